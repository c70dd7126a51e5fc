"""Reports read from a real store (SQLite and PostgreSQL): durations, censoring, aggregates."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from orbweaver.clock import SettableClock
from orbweaver.reports.load import load_inputs, load_notices
from orbweaver.reports.tables import build_report
from orbweaver.store import Store
from orbweaver.store.models import (
    Bank,
    BankEntry,
    Detection,
    Media,
    Notice,
    NoticeItem,
    Provider,
    Sighting,
    Suspect,
)

T0 = datetime(2021, 3, 1, 12, 0)


def _media(session, n: int) -> Media:  # type: ignore[no-untyped-def]
    media = Media(
        sha256=f"{n:064x}", sha1=f"{n:040x}", md5=f"{n:032x}", size_bytes=1, first_seen_at=T0
    )
    session.add(media)
    session.flush()
    return media


def _detection(session, entry: BankEntry, n: int, *, network: str = "clear", tor: bool = False):  # type: ignore[no-untyped-def]
    media = _media(session, n)
    sighting = Sighting(
        media_id=media.id,
        url=f"http://h{n}.test/{n}.jpg",
        host=f"h{n}.test",
        network=network,
        reached_from_tor=tor,
        seen_at=T0,
    )
    session.add(sighting)
    session.flush()
    detection = Detection(
        sighting_id=sighting.id,
        bank_entry_id=entry.id,
        signal_type="sha256",
        distance=0,
        category=entry.category,
        detected_at=T0,
    )
    session.add(detection)
    session.flush()
    return detection


def _notice(session, provider: Provider, detections, **kw):  # type: ignore[no-untyped-def]
    notice = Notice(
        url=f"http://x.test/{uuid.uuid4().hex}",
        kind=kw.pop("kind", "media"),
        host="x.test",
        network=kw.pop("network", "clear"),
        provider_id=provider.id,
        report_id=str(uuid.uuid4()),
        category="csam_prepubescent",
        created_at=T0,
        first_sent_at=T0,
        **kw,
    )
    session.add(notice)
    session.flush()
    for d in detections:
        session.add(
            NoticeItem(
                notice_id=notice.id,
                detection_id=d.id,
                media_id=d.sighting.media_id,
                category=d.category,
            )
        )
    return notice


@pytest.fixture
def populated(store: Store) -> Store:
    with store.session() as s:
        bank = Bank(name="known", created_at=T0)
        s.add(bank)
        s.flush()
        entry = BankEntry(
            bank_id=bank.id,
            signal_type="sha256",
            signal="0" * 64,
            category="csam_prepubescent",
            added_at=T0,
        )
        fast = Provider(
            name="FastHost", service_type="hosting_provider", created_at=T0, updated_at=T0
        )
        slow = Provider(name="SlowCDN", service_type="cdn", created_at=T0, updated_at=T0)
        s.add_all([entry, fast, slow])
        s.flush()
        d = [
            _detection(s, entry, i, tor=(i == 3), network="tor" if i == 5 else "clear")
            for i in range(6)
        ]
        # FastHost: removed after 0.5 and 1.5 days; one still online, last seen at 4 days.
        _notice(
            s, fast, [d[0]], status="removed", removed_at=T0 + timedelta(days=0.5), rounds_sent=1
        )
        _notice(
            s,
            fast,
            [d[1]],
            status="removed",
            removed_at=T0 + timedelta(days=1.5),
            rounds_sent=2,
            recidivist=True,
        )
        _notice(
            s,
            fast,
            [d[2]],
            status="open",
            last_online_at=T0 + timedelta(days=4),
            rounds_sent=5,
            escalation_level=1,
        )
        # SlowCDN: an archive of two members, reached from Tor, still online, last seen at 10 days.
        _notice(
            s,
            slow,
            [d[3], d[4]],
            kind="archive",
            status="open",
            last_online_at=T0 + timedelta(days=10),
            rounds_sent=11,
        )
        # Tor-only content, never sent: counted, not in the removal figures.
        s.add(
            Notice(
                url="http://y.onion/a.jpg",
                kind="media",
                host="y.onion",
                network="tor",
                report_id=str(uuid.uuid4()),
                category="csam_prepubescent",
                created_at=T0,
                status="tor_only",
            )
        )
        s.add(
            Suspect(
                sighting_id=d[5].sighting_id,
                media_id=d[5].sighting.media_id,
                status="pending",
                created_at=T0,
            )
        )
    return store


def test_notice_rows(populated: Store) -> None:
    notices = (
        load_notices(populated).sort_values(["provider", "duration_days"]).reset_index(drop=True)
    )
    assert notices["provider"].tolist() == ["FastHost", "FastHost", "FastHost", "SlowCDN"]
    assert notices["duration_days"].round(3).tolist() == [0.5, 1.5, 4.0, 10.0]
    assert notices["removed"].tolist() == [True, True, False, False]
    assert notices["recidivist"].tolist() == [False, True, False, False]
    assert notices["followups"].tolist() == [0, 1, 4, 10]
    assert notices["escalations"].tolist() == [0, 0, 1, 0]
    assert notices["archive"].tolist() == [False, False, False, True]
    assert notices["members"].tolist() == [1, 1, 1, 2]
    assert notices["reached_from_tor"].tolist() == [False, False, False, True]


def test_report_from_store(populated: Store, clock: SettableClock) -> None:
    report = build_report(load_inputs(populated))
    contract = report.contract()
    assert contract["summary"] == {
        "detected": 6,
        "targeted": 4,
        "removal_median_days": 1.5,
        "removal_p90_days": None,
        "recidivism_rate": 0.25,
        "providers": 2,
        "removed_before_notice": 0,
        "held_notices": 0,
    }
    fast = contract["providers"][0]
    assert (fast["name"], fast["targeted"], fast["censored"]) == ("FastHost", 3, 1)
    assert fast["removal_median_days"] == 1.5
    figure = report.figure_1_0()
    assert figure["share_hosted_clear_web"] == round(5 / 6, 4)
    assert figure["suspect_backlog"] == 1
    assert figure["tor_only_not_noticed"] == 1
    assert (figure["archives_noticed"], figure["archive_members_matched"]) == (1, 2)


def test_reports_break_down_by_media_type(populated: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 16: videos and pictures apart in Table 1.0's outputs (JSON, CSV, HTML): a notice
    is a video's when a detected media of it is a video (here FastHost's second notice and a
    member of SlowCDN's archive)."""
    import csv
    import io

    import sqlalchemy as sa

    from orbweaver.reports.render import render_html, table_csv

    with populated.session() as s:
        s.execute(
            sa.update(Media)
            .where(Media.sha256.in_([f"{1:064x}", f"{4:064x}"]))
            .values(mime_type="video/mp4")
        )
        s.execute(sa.update(Media).where(Media.mime_type.is_(None)).values(mime_type="image/jpeg"))
    report = build_report(load_inputs(populated))
    by_type = {r.name: r.targeted for r in report.by_media_type}
    assert by_type == {"picture": 2, "video": 2}
    figure = report.figure_1_0()
    assert (figure["verified_pictures_detected"], figure["verified_videos_detected"]) == (4, 2)
    assert figure["videos_targeted_for_removal"] == 2
    detail = report.detail()
    assert detail["detected_by_media_type"] == {"picture": 4, "video": 2}
    assert [r["name"] for r in detail["by_media_type"]] == ["picture", "video"]
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(table_csv(report.providers)))}
    assert (rows["FastHost"]["pictures"], rows["FastHost"]["videos"]) == ("2", "1")
    assert (rows["SlowCDN"]["pictures"], rows["SlowCDN"]["videos"]) == ("0", "1")
    html = render_html(report)
    assert "By media type" in html and "(4 pictures, 2 videos)" in html
