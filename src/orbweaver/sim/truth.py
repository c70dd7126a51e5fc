"""Ground truth: what the world hosted, was told and did, in the shape of the product's report.

Removal time runs from the first notice a party received about a URL (an "episode") to the moment
the content at that URL went offline. Content still online is right-censored at `now` and kept:
medians and p90s are Kaplan–Meier quantiles (null when the curve never falls that far), and each
provider also carries its count of censored episodes. Recidivism is the share of a party's episodes
whose image (by identity, not bytes) had been noticed to that party before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orbweaver.sim.behaviour import Engine, Episode
from orbweaver.sim.clock import iso

DAY = 86400.0


def km_quantile(durations: list[tuple[float, bool]], q: float) -> float | None:
    """Kaplan–Meier: the smallest time by which a share q of episodes ended (events = True)."""
    if not durations:
        return None
    ordered = sorted(durations, key=lambda d: (d[0], not d[1]))
    at_risk = len(ordered)
    survival = 1.0
    i = 0
    while i < len(ordered):
        t = ordered[i][0]
        events = 0
        leaving = 0
        while i < len(ordered) and ordered[i][0] == t:
            events += ordered[i][1]
            leaving += 1
            i += 1
        if events:
            survival *= 1.0 - events / at_risk
            if 1.0 - survival >= q - 1e-12:
                return t
        at_risk -= leaving
    return None


def episode_durations(
    engine: Engine, episodes: list[Episode], now: datetime
) -> list[tuple[float, bool]]:
    out = []
    for ep in episodes:
        item = engine.cat.items[ep.item_id]
        end = item.ended_at  # removed after notices, or gone on its own (own_removal_factor)
        if end is not None and end <= now:
            secs = max(0.0, (end - ep.first_notice_at).total_seconds())
            out.append((secs / DAY, True))
        else:
            out.append(((now - ep.first_notice_at).total_seconds() / DAY, False))
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def party_row(
    engine: Engine, name: str, service_type: str, episodes: list[Episode], now: datetime
) -> dict[str, Any]:
    durations = episode_durations(engine, episodes, now)
    repeats = sum(ep.repeat for ep in episodes)
    party = engine.cat.party(name)
    hosted = [
        i for s in party.sites if s.frontline is party for i in s.items if i.uploaded_at <= now
    ]
    return {
        "name": name,
        "service_type": service_type,
        "targeted": len(episodes),
        "targeted_images": sum(len(ep.image_ids) for ep in episodes),
        "removal_median_days": _round(km_quantile(durations, 0.5)),
        "removal_p90_days": _round(km_quantile(durations, 0.9)),
        "recidivism_rate": _round(repeats / len(episodes)) if episodes else None,
        "censored": sum(not ev for _, ev in durations),
        "removed": sum(ev for _, ev in durations),
        "repeat_notices": repeats,
        "hosted_items": len(hosted),
        "hosted_images": len({i for it in hosted for i in it.image_ids}),
        "scenario": _scenario_row(party),
    }


def _scenario_row(party: Any) -> dict[str, Any]:
    b = party.behaviour
    return {
        "removal_median_days": b.removal_median_days,
        "removal_p90_days": b.removal_p90_days,
        "recidivism_rate": b.recidivism_rate,
        "never_remove": b.never_remove,
    }


def export(engine: Engine, now: datetime | None = None, images: bool = True) -> dict[str, Any]:
    """The whole truth at `now` (default: the world clock), in the product's report shape."""
    with engine.lock:
        now = now or engine.clock.now()
        by_party: dict[str, list[Episode]] = {}
        for ep in engine.ledger.episodes.values():
            if ep.first_notice_at <= now:
                by_party.setdefault(ep.party, []).append(ep)
        rows = [
            party_row(engine, p.name, p.service_type, by_party.get(p.name, []), now)
            for p in engine.cat.parties
            if p.service_type != "registrar" or p.name in by_party
        ]
        all_eps = [ep for eps in by_party.values() for ep in eps]
        durations = episode_durations(engine, all_eps, now)
        actionable = {im.id for im in engine.cat.images if im.label != "benign"}
        seen = {i for it in engine.cat.items if it.uploaded_at <= now for i in it.image_ids}
        summary = {
            "now": iso(now),
            "detected": len(actionable & seen),
            "targeted": len(all_eps),
            "removal_median_days": _round(km_quantile(durations, 0.5)),
            "removal_p90_days": _round(km_quantile(durations, 0.9)),
            "recidivism_rate": _round(sum(e.repeat for e in all_eps) / len(all_eps))
            if all_eps
            else None,
            "providers": len(engine.cat.providers),
            "notices": sum(n.received_at <= now for n in engine.ledger.notices),
            "censored": sum(not ev for _, ev in durations),
        }
        out: dict[str, Any] = {"summary": summary, "providers": rows}
        if images:
            out["images"] = image_rows(engine, now)
            out["notices"] = [notice_row(n) for n in engine.ledger.notices if n.received_at <= now]
        return out


def notice_row(n: Any) -> dict[str, Any]:
    return {
        "received_at": iso(n.received_at),
        "provider": n.recipient,
        "channel": n.channel,
        "url": n.url,
        "report_id": n.report_id,
        "round": n.round,
        "escalation": n.escalation,
        "outcome": n.outcome,
    }


def image_rows(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    """Every picture with its label and every placement of it (including inside archives)."""
    placements: dict[int, list[dict[str, Any]]] = {}
    for item in engine.cat.items:
        if item.uploaded_at > now:
            continue
        end = item.ended_at
        removed = end is not None and end <= now
        for pos, image_id in enumerate(item.image_ids):
            row = {
                "url": item.url,
                "member": item.members[pos].name if item.members else None,
                "provider": item.site.frontline.name if item.site.frontline else None,
                "uploaded_at": iso(item.uploaded_at),
                "removed_at": iso(end) if removed and end else None,
                "gone_on_its_own": removed and end == item.gone_at,
                "reupload_of": item.parent.url if item.parent else None,
                "variant": (item.members[pos].variant if item.members else item.variant).kind,
            }
            placements.setdefault(image_id, []).append(row)
    return [
        {
            "id": im.id,
            "label": im.label,
            "category": im.category,
            "placements": placements.get(im.id, []),
        }
        for im in engine.cat.images
    ]
