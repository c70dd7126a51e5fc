"""Recidivism: a new notice whose media was already noticed to the same provider before.

The rule (docs/architecture.md's vocabulary, Table 1.0's recidivism column): a notice is
recidivist when one of its items is the same media as an item of an earlier notice *to the same
provider*, where "the same" is any of
- the same file (sha256),
- a detection of the same bank entry,
- a PDQ within the bank's threshold (distance <= threshold) of an earlier item's PDQ, comparing
  both the item's own PDQ and, for a perceptual match, the PDQ of the bank entry it matched (a
  mirrored or rotated copy is the picture of the entry it matched).
The same media at another provider is not recidivism: that provider never had it noticed.

Planning applies the rule to each notice it creates, before the first round goes out; the notice
then points at the first earlier notice (`recidivist_of_id`) and a `notice.recidivist` event
records it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.signals import hamming
from orbweaver.store import EventKind, record_event
from orbweaver.store.models import Bank, BankEntry, Detection, Media, Notice, NoticeItem

# One item of a notice: (sha256, PDQ, bank entry id, the bank's PDQ threshold, the entry's
# signal type, the entry's signal).
RecidivismRow = tuple[str, str | None, int, int, str, str]


class RecidivismCheck:
    """The recidivism rule over one planning pass.

    Exact identities are looked up by index; PDQ neighbours are scanned in a per-pass cache of
    each provider's earlier hashes (loaded once, extended with every notice checked), so a pass
    stays linear in its batch. Use one instance per pass: the cache does not see notices
    written by others after it was loaded.
    """

    def __init__(self) -> None:
        self._pdqs: dict[int, list[tuple[int, str]]] = {}

    def flag(
        self,
        session: Session,
        clock: Clock,
        notice: Notice,
        known: list[RecidivismRow] | None = None,
    ) -> int | None:
        """Mark `notice` recidivist if the rule says so; returns the earlier notice it repeats
        (None when it is not recidivist). `known`: its items, when the caller has them."""
        rows = known or self._rows(session, notice)
        mine = [(sha, pdq, entry, threshold) for sha, pdq, entry, threshold, _, _ in rows]
        probes = [(pdq, threshold) for _, pdq, _, threshold in mine if pdq]
        probes += [(signal, threshold) for *_, threshold, kind, signal in rows if kind == "pdq"]
        earlier = self._earlier_pdqs(session, notice.provider_id or 0)
        prev = _earlier_exact(session, notice, mine)
        if prev is None:
            prev = next(
                (
                    nid
                    for nid, pdq in earlier
                    for my_pdq, threshold in probes
                    # the cache may already hold this notice's own items (autoflush): skip them
                    if nid != notice.id and hamming(pdq, my_pdq) <= threshold
                ),
                None,
            )
        if all(nid != notice.id for nid, _ in earlier[-len(mine) :]):
            earlier.extend((notice.id, m[1]) for m in mine if m[1])
        if prev is None:
            return None
        notice.recidivist = True
        notice.recidivist_of_id = prev
        record_event(
            session,
            clock,
            EventKind.NOTICE_RECIDIVIST,
            subject_type="notice",
            subject_id=notice.id,
            payload={"earlier_notice_id": prev},
        )
        return prev

    @staticmethod
    def _rows(session: Session, notice: Notice) -> Sequence[RecidivismRow]:
        return session.execute(
            select(
                Media.sha256,
                Media.pdq,
                Detection.bank_entry_id,
                Bank.pdq_threshold,
                BankEntry.signal_type,
                BankEntry.signal,
            )
            .select_from(NoticeItem)
            .join(Media, Media.id == NoticeItem.media_id)
            .join(Detection, Detection.id == NoticeItem.detection_id)
            .join(BankEntry, BankEntry.id == Detection.bank_entry_id)
            .join(Bank, Bank.id == BankEntry.bank_id)
            .where(NoticeItem.notice_id == notice.id)
        ).all()

    def _earlier_pdqs(self, session: Session, provider_id: int) -> list[tuple[int, str]]:
        if provider_id not in self._pdqs:
            self._pdqs[provider_id] = [
                (nid, pdq)
                for nid, pdq in session.execute(
                    select(NoticeItem.notice_id, Media.pdq)
                    .join(Notice, Notice.id == NoticeItem.notice_id)
                    .join(Media, Media.id == NoticeItem.media_id)
                    .where(Notice.provider_id == provider_id, Media.pdq.is_not(None))
                ).all()
                if pdq
            ]
        return self._pdqs[provider_id]


def _earlier_exact(
    session: Session, notice: Notice, mine: list[tuple[str, str | None, int, int]]
) -> int | None:
    """The first earlier notice to the same provider with the same file or bank entry."""
    return session.scalar(
        select(NoticeItem.notice_id)
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .join(Media, Media.id == NoticeItem.media_id)
        .join(Detection, Detection.id == NoticeItem.detection_id)
        .where(
            Notice.provider_id == notice.provider_id,
            Notice.id < notice.id,
            (Media.sha256.in_([m[0] for m in mine]))
            | (Detection.bank_entry_id.in_([m[2] for m in mine])),
        )
        .order_by(NoticeItem.notice_id)
        .limit(1)
    )
