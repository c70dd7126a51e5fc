"""Read what a report needs from the store: one row per sent notice, plus a few aggregates.

Everything is aggregated in SQL or read column-wise into pandas, never as ORM objects, so Table 1.0
over millions of detections stays within seconds on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from orbweaver.reports.tables import NOTICE_COLUMNS, ReportInputs, empty_notices
from orbweaver.store import Store

_DAY = np.timedelta64(86_400, "s")

NOTICES_SQL = """
WITH items AS (
    SELECT i.notice_id AS notice_id,
           COUNT(*) AS members,
           MAX(CASE WHEN s.reached_from_tor THEN 1 ELSE 0 END) AS tor
    FROM notice_item i
    JOIN detection d ON d.id = i.detection_id
    JOIN sighting s ON s.id = d.sighting_id
    GROUP BY i.notice_id
)
SELECT p.name AS provider, p.service_type AS service_type, n.first_sent_at AS sent_at,
       n.removed_at AS removed_at, n.last_online_at AS last_online_at, n.status AS status,
       n.recidivist AS recidivist, n.category AS category, n.kind AS kind,
       n.network AS network, n.rounds_sent AS rounds_sent,
       n.escalation_level AS escalations,
       COALESCE(items.members, 0) AS members, COALESCE(items.tor, 0) AS tor
FROM notice n
JOIN provider p ON p.id = n.provider_id
LEFT JOIN items ON items.notice_id = n.id
WHERE n.first_sent_at IS NOT NULL
"""


def load_notices(store: Store) -> pd.DataFrame:
    """One row per notice sent, in `NOTICE_COLUMNS`, with removal durations in days.

    A removed notice lasts from the first notice to its estimated removal (midway between the
    last check that saw it online and the first that confirmed it gone). One still online is
    censored at the last time it was seen online: that is all we know about it.
    """
    with store.engine.connect() as conn:
        raw = pd.read_sql_query(sa.text(NOTICES_SQL), conn)
    if raw.empty:
        return empty_notices()
    sent = pd.to_datetime(raw["sent_at"])
    removed_at = pd.to_datetime(raw["removed_at"])
    last_online = pd.to_datetime(raw["last_online_at"]).fillna(sent)
    removed = removed_at.notna() & (raw["status"] == "removed")
    end = removed_at.where(removed, last_online.where(last_online > sent, sent))
    frame = pd.DataFrame(
        {
            "provider": raw["provider"],
            "service_type": raw["service_type"],
            "sent_at": sent,
            "duration_days": (end - sent).to_numpy() / _DAY,
            "removed": removed.to_numpy(),
            "recidivist": raw["recidivist"].astype(bool),
            "category": raw["category"],
            "reached_from_tor": (raw["tor"].astype(int) > 0) | (raw["network"] == "tor"),
            "archive": raw["kind"] == "archive",
            "members": raw["members"].astype("int64"),
            "followups": (raw["rounds_sent"].astype("int64") - 1).clip(lower=0),
            "escalations": raw["escalations"].astype("int64"),
        }
    )
    return frame.astype(NOTICE_COLUMNS).reset_index(drop=True)


def _scalar(conn: sa.Connection, sql: str) -> int:
    return int(conn.execute(sa.text(sql)).scalar() or 0)


def load_inputs(store: Store) -> ReportInputs:
    """Notices plus the counts Figure 1.0 needs (detections, suspects, Tor-only content)."""
    notices = load_notices(store)
    with store.engine.connect() as conn:
        by_network: dict[str, int] = dict(
            conn.execute(
                sa.text(
                    "SELECT s.network, COUNT(DISTINCT d.sighting_id) FROM detection d "
                    "JOIN sighting s ON s.id = d.sighting_id GROUP BY s.network"
                )
            ).all()
        )
        by_category: dict[str, int] = dict(
            conn.execute(
                sa.text(
                    "SELECT category, COUNT(DISTINCT sighting_id) FROM detection GROUP BY category"
                )
            ).all()
        )
        backlog = _scalar(conn, "SELECT COUNT(*) FROM suspect WHERE status = 'pending'")
        tor_only = _scalar(conn, "SELECT COUNT(*) FROM notice WHERE status = 'tor_only'")
    return ReportInputs(
        notices=notices,
        detected=int(sum(by_network.values())),
        detected_by_category={str(k): int(v) for k, v in by_category.items()},
        detected_clear_web=int(by_network.get("clear", 0)),
        suspect_backlog=backlog,
        tor_only=tor_only,
        recheck_cadence=recheck_cadence(),
    )


def recheck_cadence() -> str:
    """The configured re-check schedule in words, printed next to every removal figure."""
    from orbweaver.monitor.settings import MonitorSettings

    monitor = MonitorSettings()
    offsets = ", ".join(f"+{h:g} h" for h in monitor.recheck_schedule_hours)
    return (
        f"{offsets}, then every {monitor.recheck_every_hours:g} h while online; offline confirmed "
        f"by {monitor.offline_confirm_misses} misses {monitor.offline_confirm_spacing_minutes:g} "
        "min apart"
    )
