"""The manager's and administrator's pages (issue 20): providers, notices with their messages
as sent and a retry, search, the audit log's filters and export, and changes to banks and
users that need a confirmation and a reason, audited."""

from __future__ import annotations

import sqlalchemy as sa
from review_world import World
from web_helpers import browser, console_app

from orbweaver.banks import ensure_bank
from orbweaver.store.models import (
    AuditEntry,
    Bank,
    Event,
    Media,
    Notice,
    NoticeItem,
    Outbox,
    Provider,
    ProviderAlias,
    ProviderOverride,
)


def notice_world(world: World) -> dict[str, int]:
    """A provider, a notice for a known image on its host, and a failed message."""
    world.detections_on("board.example.test", 1, seed=20_000)
    now = world.clock.now()
    with world.store.session() as s:
        from orbweaver.store.models import Detection, Media, Sighting

        provider = Provider(
            name="Example Hosting",
            service_type="hosting_provider",
            abuse_email="abuse@hosting.example.test",
            created_at=now,
            updated_at=now,
        )
        s.add(provider)
        s.flush()
        detection, media_id, url = s.execute(
            sa.select(Detection, Sighting.media_id, Sighting.url)
            .join(Sighting, Sighting.id == Detection.sighting_id)
            .order_by(Detection.id.desc())
            .limit(1)
        ).one()
        upstream = Provider(
            name="Transit Net", service_type="upstream", created_at=now, updated_at=now
        )
        s.add(upstream)
        s.flush()
        notice = Notice(
            url=url,
            host="board.example.test",
            provider_id=provider.id,
            chain=[
                {"role": "hosting", "provider_id": provider.id, "name": "Example Hosting"},
                {"role": "upstream", "provider_id": upstream.id, "name": "Transit Net"},
            ],
            report_id="rep-0001",
            category="csam_prepubescent",
            rounds_sent=1,
            created_at=now,
        )
        s.add(notice)
        s.flush()
        s.add(
            NoticeItem(
                notice_id=notice.id,
                detection_id=detection.id,
                media_id=media_id,
                category="csam_prepubescent",
            )
        )
        message = Outbox(
            key="k1",
            notice_id=notice.id,
            provider_id=provider.id,
            kind="notice",
            round=1,
            channel="email",
            recipient="abuse@hosting.example.test",
            message_id="<m1@example.test>",
            subject="Removal request rep-0001",
            body="Please remove the content at the URL below.",
            xarf={},
            status="failed",
            attempts=5,
            next_attempt_at=now,
            last_error="550 mailbox unavailable",
            created_at=now,
        )
        s.add(message)
        s.flush()
        sha = s.get_one(Media, media_id).sha256
        return {  # type: ignore[dict-item]
            "provider": provider.id,
            "upstream": upstream.id,
            "notice": notice.id,
            "outbox": message.id,
            "sha": sha,
        }


def test_providers_notices_messages_and_a_retry(world: World) -> None:
    ids = notice_world(world)
    world.user("sam", "senior_analyst")
    world.user("adm", "administrator")
    world.user("ana")
    app = console_app(world)
    sam, _ = browser(app, "sam")
    listing = sam.get("/console/providers").text
    assert (
        f'href="/console/providers/{ids["provider"]}"' in listing and "Example Hosting" in listing
    )
    with world.store.session() as s:  # an alias and an override, shown on the provider page
        s.add(ProviderAlias(provider_id=ids["provider"], kind="rdap", value="EXH-1"))
        s.add(
            ProviderOverride(
                provider_id=ids["provider"],
                kind="host",
                pattern="*.board.example.test",
                note="reseller of Example Hosting",
                created_at=world.clock.now(),
            )
        )
    provider = sam.get(f"/console/providers/{ids['provider']}").text
    assert "abuse@hosting.example.test" in provider and "550 mailbox unavailable" in provider
    assert "rdap EXH-1" in provider
    chain = provider.split('id="chain"')[1].split("</table>")[0]  # where escalations go
    assert f'href="/console/providers/{ids["upstream"]}">Transit Net</a>' in chain
    assert "<td>upstream</td><td>above it</td>" in chain
    assert "override: host *.board.example.test (reseller of Example Hosting)" in provider
    assert f'href="/console/notices/{ids["notice"]}"' in provider  # in flight
    notice = sam.get(f"/console/notices/{ids['notice']}").text
    assert "Please remove the content at the URL below." in notice  # the message as sent
    assert "child sexual abuse material (pre-pubescent)" in notice
    assert "Retry message" not in notice  # a senior reads; an administrator retries
    assert "Example Hosting" in sam.get("/console/notices?failed=true").text

    adm, csrf = browser(app, "adm")
    assert "Retry message" in adm.get(f"/console/notices/{ids['notice']}").text
    done = adm.post(
        f"/console/outbox/{ids['outbox']}/retry", data={"csrf_token": csrf, "reason": "fixed MX"}
    )
    assert (
        done.status_code == 303 and done.headers["location"] == f"/console/notices/{ids['notice']}"
    )
    again = adm.post(f"/console/outbox/{ids['outbox']}/retry", data={"csrf_token": csrf})
    assert again.status_code == 409 and "not a failed message" in again.text
    with world.store.session() as s:
        assert s.get_one(Outbox, ids["outbox"]).status == "pending"
        row = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "outbox.retry")).one()
        assert row.actor == "adm" and row.detail["reason"] == "fixed MX"
        assert (
            s.scalar(sa.select(Event.actor).where(Event.kind == "outbox.requeued")) == "console:adm"
        )

    ana, _ = browser(app, "ana")
    refused = ana.get("/console/providers")
    assert refused.status_code == 403 and "Not allowed" in refused.text


def test_search_by_url_host_hash_and_notice_id(world: World) -> None:
    ids = notice_world(world)
    world.user("sam", "senior_analyst")
    sam, _ = browser(console_app(world), "sam")
    link = f'href="/console/notices/{ids["notice"]}"'
    with world.store.session() as s:
        url = s.get_one(Notice, ids["notice"]).url
    for q in (str(ids["notice"]), "rep-0001", "board.example.test", url, ids["sha"]):
        assert link in sam.get("/console/search", params={"q": q}).text, q
    with world.store.session() as s:  # a hash of any signal type (issue 20), any case
        media = s.scalars(sa.select(Media).where(Media.sha256 == ids["sha"])).one()
        hashes = {"sha1": media.sha1, "md5": media.md5, "pdq": media.pdq}
    assert all(hashes.values()), hashes
    for kind, value in {**hashes, "SHA-256 upper case": str(ids["sha"]).upper()}.items():
        assert link in sam.get("/console/search", params={"q": value}).text, kind
    assert link not in sam.get("/console/search", params={"q": "elsewhere.example.test"}).text


def test_the_audit_log_filters_reads_and_exports(world: World) -> None:
    world.suspect(1)
    world.user("adm", "administrator")
    world.user("ana")
    app = console_app(world)
    ana, ana_csrf = browser(app, "ana")
    item = ana.get("/console/next").headers["location"].split("/")[-1]
    ana.post(f"/console/items/{item}/note", data={"note": "a benign note", "csrf_token": ana_csrf})
    adm, _ = browser(app, "adm")
    page = adm.get("/console/audit", params={"actor": "ana", "action": "item."}).text
    assert "note: a benign note" in page and f'href="/console/items/{item}"' in page
    assert "login" not in page.split("<tbody>")[1]  # filtered to ana's item actions
    assert '{"note"' not in page  # details in words, not raw JSON
    export = adm.get("/console/audit.csv", params={"actor": "ana"})
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.splitlines()
    assert lines[0].startswith("id,at,actor") and any("item.note" in x for x in lines)
    assert all(",ana," in x for x in lines[1:])
    bad = adm.get("/console/audit", params={"since": "yesterday"})
    assert bad.status_code == 422 and "not a date" in bad.text


def test_disabling_a_bank_needs_its_name_and_a_reason(world: World) -> None:
    ensure_bank(world.store, world.clock, "known")
    world.user("adm", "administrator")
    adm, csrf = browser(console_app(world), "adm")
    form = {"csrf_token": csrf, "enabled": "false"}
    plain = adm.post("/console/banks/known/enabled", data=form)
    assert plain.status_code == 409 and "type the bank&#39;s name" in plain.text
    no_reason = adm.post("/console/banks/known/enabled", data={**form, "confirm": "known"})
    assert no_reason.status_code == 409 and "give a reason" in no_reason.text
    with world.store.session() as s:
        assert s.scalar(sa.select(Bank.enabled).where(Bank.name == "known"))
    done = adm.post(
        "/console/banks/known/enabled",
        data={**form, "confirm": "known", "reason": "vendor list withdrawn"},
    )
    assert done.status_code == 303
    with world.store.session() as s:
        assert not s.scalar(sa.select(Bank.enabled).where(Bank.name == "known"))
        row = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "bank.disabled")).one()
        assert row.detail == {"name": "known", "reason": "vendor list withdrawn"}


def test_api_keys_are_issued_and_revoked_in_the_browser_with_reasons(world: World) -> None:
    from fastapi.testclient import TestClient

    world.suspect(1)
    world.user("adm", "administrator")
    world.user("ana")
    app = console_app(world)
    adm, csrf = browser(app, "adm")
    refused = adm.post("/console/keys", data={"csrf_token": csrf, "name": "ana", "review": "true"})
    assert refused.status_code == 409 and "give a reason" in refused.text
    issued = adm.post(
        "/console/keys",
        data={"csrf_token": csrf, "name": "ana", "review": "true", "reason": "ana's scripts"},
    )
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    key = issued.text.split("copy it now.</p>")[1].split('class="hash">')[1].split("<")[0]
    user, secret = key.split(":", 1)
    bot = TestClient(app)
    assert bot.get("/api/review/next", auth=(user, secret)).status_code == 200
    assert secret not in adm.get("/console/keys").text  # shown once
    unconfirmed = adm.post("/console/keys/ana/revoke", data={"csrf_token": csrf, "reason": "x"})
    assert unconfirmed.status_code == 409 and "confirm" in unconfirmed.text
    revoked = adm.post(
        "/console/keys/ana/revoke",
        data={"csrf_token": csrf, "confirm": "ana", "reason": "left the team"},
    )
    assert revoked.status_code == 303
    with world.store.session() as s:
        actions = {
            a: d
            for a, d in s.execute(sa.select(AuditEntry.action, AuditEntry.detail)).all()
            if a.startswith("apikey.")
        }
    assert actions["apikey.created"]["reason"] == "ana's scripts"
    assert actions["apikey.revoked"] == {"name": "ana", "reason": "left the team"}
