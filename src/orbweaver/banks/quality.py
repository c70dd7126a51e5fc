"""Signal quality controls (issue 17): per-bank match distances by signal type, negative banks,
switching one entry off without deleting it, flood quarantine, and match explanations.

Every control is a row the matcher reads on its next `refresh()` (entries switched off or
quarantined through a small partial index), so each is in force within one refresh everywhere,
and every change is an audited event.

Flood quarantine: an entry whose detections in the last `window` reach `min_matches` and exceed
`factor` times its own hourly baseline (its detections over the `baseline` before the window,
per hour) is quarantined. Its detections are still recorded, flagged `held`, and no notice is
planned for them until an analyst releases the entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.signals import signal_types
from orbweaver.store import EventKind, Store, record_event, store_time
from orbweaver.store.models import Bank, BankEntry, Detection

from .service import BankError, get_bank

BANK_KINDS = ("positive", "negative")
MAX_DISTANCE = 256


@dataclass(frozen=True)
class FloodPolicy:
    """When an entry's matches count as a flood (see the module docstring)."""

    window: timedelta = timedelta(hours=1)
    baseline: timedelta = timedelta(days=7)
    factor: float = 10.0
    min_matches: int = 50

    def is_flood(self, last_window: int, baseline_count: int) -> bool:
        per_window = baseline_count * (self.window / self.baseline)
        return last_window >= self.min_matches and last_window > self.factor * per_window


def set_distance(
    store: Store,
    clock: Clock,
    name: str,
    signal_type: str,
    distance: int,
    *,
    actor: str = "system",
) -> None:
    """The bank's match distance for one near signal type (PDQ: its `pdq_threshold`)."""
    kind = signal_types().get(signal_type)
    if kind is None:
        raise BankError(f"unknown signal_type {signal_type!r} (one of {', '.join(signal_types())})")
    if kind.exact:
        raise BankError(f"{signal_type} matches exactly: it has no distance to set")
    if not 0 <= distance <= MAX_DISTANCE:
        raise BankError(f"distance must be between 0 and {MAX_DISTANCE}, got {distance}")
    with store.session() as session:
        bank = get_bank(session, name)
        if signal_type == "pdq":
            bank.pdq_threshold = distance
        else:
            bank.distances = {**(bank.distances or {}), signal_type: distance}
        record_event(
            session,
            clock,
            EventKind.BANK_DISTANCE_CHANGED,
            subject_type="bank",
            subject_id=bank.id,
            actor=actor,
            payload={"signal_type": signal_type, "distance": distance},
        )


def _entry(session: Session, entry_id: int) -> tuple[BankEntry, str]:
    row = session.execute(
        sa.select(BankEntry, Bank.name)
        .join(Bank, Bank.id == BankEntry.bank_id)
        .where(BankEntry.id == entry_id)
    ).first()
    if row is None:
        raise BankError(f"no bank entry {entry_id}")
    return row[0], row[1]


def set_entry_enabled(
    store: Store,
    clock: Clock,
    entry_id: int,
    enabled: bool,
    *,
    reason: str,
    actor: str = "system",
) -> None:
    """Switch one entry off (it matches nothing, kept for the record) or on again; a reason is
    required both ways."""
    if not reason.strip():
        raise BankError("say why (--reason)")
    with store.session() as session:
        entry, bank = _entry(session, entry_id)
        entry.disabled_at = None if enabled else clock.now()
        entry.disabled_reason = None if enabled else reason
        facts = {"bank": bank, "reason": reason}  # both kinds' keys
        record_event(
            session,
            clock,
            EventKind.BANK_ENTRY_ENABLED if enabled else EventKind.BANK_ENTRY_DISABLED,
            subject_type="bank_entry",
            subject_id=entry_id,
            actor=actor,
            payload=facts,
        )


def release_entry(
    store: Store,
    clock: Clock,
    entry_id: int,
    *,
    reason: str,
    unhold: bool = True,
    actor: str = "system",
) -> int:
    """Lift an entry's quarantine; with `unhold`, its held detections go on to notices (the
    analyst judged the flood real). Returns the number of detections un-held."""
    if not reason.strip():
        raise BankError("say why (--reason)")
    with store.session() as session:
        entry, bank = _entry(session, entry_id)
        if entry.quarantined_at is None:
            raise BankError(f"bank entry {entry_id} is not quarantined")
        entry.quarantined_at = None
        unheld = 0
        if unhold:
            result = session.execute(
                sa.update(Detection)
                .where(Detection.bank_entry_id == entry_id, Detection.held.is_(True))
                .values(held=False)
            )
            unheld = int(getattr(result, "rowcount", 0) or 0)
        record_event(
            session,
            clock,
            EventKind.BANK_ENTRY_RELEASED,
            subject_type="bank_entry",
            subject_id=entry_id,
            actor=actor,
            payload={"bank": bank, "reason": reason, "unheld": unheld},
        )
    return unheld


def check_floods(
    session: Session,
    clock: Clock,
    entry_ids: Iterable[int],
    policy: FloodPolicy | None = None,
) -> set[int]:
    """Quarantine the entries among `entry_ids` whose detections flood now (their detections
    just written included, so call it after inserting them); holds their detections of the
    window. Returns the entries newly quarantined."""
    policy = policy or FloodPolicy()
    wanted = sorted(set(entry_ids))
    if not wanted:
        return set()
    now = clock.now()
    window_start = store_time(now - policy.window)
    baseline_start = store_time(now - policy.window - policy.baseline)
    in_window = sa.case((Detection.detected_at >= window_start, 1), else_=0)
    rows = session.execute(
        sa.select(
            Detection.bank_entry_id,
            sa.func.sum(in_window),
            sa.func.count(),
            sa.func.min(Bank.name),
        )
        .join(BankEntry, BankEntry.id == Detection.bank_entry_id)
        .join(Bank, Bank.id == BankEntry.bank_id)
        .where(
            Detection.bank_entry_id.in_(wanted),
            Detection.detected_at >= baseline_start,
            BankEntry.quarantined_at.is_(None),
        )
        .group_by(Detection.bank_entry_id)
    ).all()
    flooded: dict[int, tuple[int, int, str]] = {}
    for entry_id, last, total, bank in rows:
        last, total = int(last or 0), int(total)
        if policy.is_flood(last, total - last):
            flooded[int(entry_id)] = (last, total - last, str(bank))
    if not flooded:
        return set()
    session.execute(
        sa.update(BankEntry).where(BankEntry.id.in_(list(flooded))).values(quarantined_at=now)
    )
    session.execute(
        sa.update(Detection)
        .where(Detection.bank_entry_id.in_(list(flooded)), Detection.detected_at >= window_start)
        .values(held=True)
    )
    hours = policy.baseline / timedelta(hours=1)
    for entry_id, (last, before, bank) in flooded.items():
        record_event(
            session,
            clock,
            EventKind.BANK_ENTRY_QUARANTINED,
            subject_type="bank_entry",
            subject_id=entry_id,
            payload={
                "bank": bank,
                "last_hour": last,
                "baseline_per_hour": round(before / hours, 3),
            },
        )
    return set(flooded)


def explain_entries(session: Session, entry_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Per entry: its bank, source and, where the exchanges recorded them, member and tags (the
    parts of a match's explanation the matcher does not hold in memory)."""
    if not entry_ids:
        return {}
    rows = session.execute(
        sa.select(
            BankEntry.id, Bank.name, Bank.kind, BankEntry.source, BankEntry.member, BankEntry.tags
        )
        .join(Bank, Bank.id == BankEntry.bank_id)
        .where(BankEntry.id.in_(sorted(set(entry_ids))))
    ).all()
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        info: dict[str, Any] = {"bank": row[1], "bank_kind": row[2], "source": row[3] or ""}
        # only what an exchange or a list recorded: an entry of our own has neither
        if row[4]:
            info["member"] = row[4]
        if row[5]:
            info["tags"] = list(row[5])
        out[int(row[0])] = info
    return out


def explain_matches(store: Store, matches: Sequence[Any]) -> list[dict[str, Any]]:
    """Each match as its explanation: bank, entry id, source (member and tags where known),
    signal type, distance, category."""
    with store.session() as session:
        known = explain_entries(session, [m.entry_id for m in matches])
    out = []
    for m in matches:
        info = known.get(m.entry_id, {})
        record: dict[str, Any] = {
            "bank": m.bank,
            "entry_id": m.entry_id,
            "source": info.get("source", ""),
            "signal_type": m.signal_type,
            "distance": m.distance,
            "category": m.category,
        }
        for column in ("member", "tags"):
            if column in info:
                record[column] = info[column]
        if getattr(m, "held", False):
            record["quarantined"] = True
        out.append(record)
    return out
