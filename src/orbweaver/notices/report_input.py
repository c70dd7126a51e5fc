"""What one message of a notice says, gathered from the store: the input of `xarf.compose_report`
and `compose.compose_letter`.

Every round, escalation and export of a notice reads its items the same way, so the X-ARF
report and the e-mail text of any round agree with each other and with the store.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from orbweaver.attribution import ChainLink
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.xarf import Contact, ItemHashes, ReportInput
from orbweaver.store.models import Detection, Media, Notice, NoticeItem, Sighting

# One item of a notice with what it was made from, as planning writes it or the store holds it.
ItemRow = tuple[NoticeItem, Media, Detection, Sighting]


def reporter_of(settings: NoticeSettings) -> Contact:
    return Contact(settings.notice_org, settings.notice_from, settings.notice_domain)


def report_input(
    session: Session,
    notice: Notice,
    round_: int,
    level: int,
    reporter: Contact,
    *,
    rows: list[ItemRow] | None = None,
) -> ReportInput:
    """Gather what one message of `notice` says from the store (or from `rows`, its items as
    planning just wrote them, in order)."""
    found: Sequence[ItemRow] = rows or (
        session.execute(
            select(NoticeItem, Media, Detection, Sighting)
            .join(Media, Media.id == NoticeItem.media_id)
            .join(Detection, Detection.id == NoticeItem.detection_id)
            .join(Sighting, Sighting.id == Detection.sighting_id)
            .where(NoticeItem.notice_id == notice.id)
            .order_by(NoticeItem.id)
        ).all()
    )
    items = [
        ItemHashes(
            sha256=m.sha256,
            sha1=m.sha1,
            md5=m.md5,
            pdq=m.pdq,
            category=it.category,
            member_path=it.member_path,
            match="exact" if d.distance == 0 else "pdq",
        )
        for it, m, d, _ in found
    ]
    seen = [s.seen_at for *_, s in found]
    chain = [ChainLink.from_dict(c) for c in notice.chain]
    host_link = next((c for c in chain if c.role == "hosting_provider"), None)
    return ReportInput(
        report_id=notice.report_id,
        url=notice.url,
        host=notice.host,
        kind=notice.kind,
        category=notice.category,
        items=items,
        first_seen=min(seen),
        last_seen=max(seen),
        reporter=reporter,
        source_identifier=notice.host,
        hosting_provider=host_link.name if host_link else None,
        round=round_,
        escalation_level=level,
        notice_id=notice.id,
    )
