"""Read what a report needs from the store: one row per sent notice, plus a few aggregates.

Everything is computed in SQL and read as plain numbers into NumPy: timestamps come back as
days since the epoch, categories and states as small codes, so Table 1.0 over millions of
detections costs a few seconds on SQLite and PostgreSQL alike rather than minutes of objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from orbweaver.reports.tables import NOTICE_COLUMNS, ReportInputs, empty_notices
from orbweaver.store import Store
from orbweaver.store.models import CATEGORIES, GONE_PRE_NOTICE

_EPOCH = np.datetime64("1970-01-01T00:00:00", "us")
_US_PER_DAY = 86_400_000_000


def _days(dialect: str, column: str) -> str:
    """SQL for a timestamp as fractional days since 1970-01-01, in either dialect."""
    if dialect == "postgresql":
        return f"(CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION) / 86400.0)"
    return f"(julianday({column}) - 2440587.5)"


def _category_code() -> str:
    cases = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(CATEGORIES))
    return f"CASE n.category {cases} ELSE -1 END"


def _notices_sql(dialect: str, provider_id: int | None = None) -> str:
    end = "COALESCE(n.removed_at, n.last_online_at, n.first_sent_at)"
    return f"""
SELECT n.id, n.provider_id, {_days(dialect, "n.first_sent_at")},
       {_days(dialect, end)},
       CASE WHEN n.status = 'removed' AND n.removed_at IS NOT NULL THEN 1 ELSE 0 END,
       CASE WHEN n.recidivist THEN 1 ELSE 0 END, {_category_code()},
       CASE WHEN n.kind = 'archive' THEN 1 ELSE 0 END,
       CASE WHEN n.network = 'tor' THEN 1 ELSE 0 END,
       n.rounds_sent, n.escalation_level
FROM notice n
WHERE n.first_sent_at IS NOT NULL AND n.provider_id IS NOT NULL{
        "" if provider_id is None else f" AND n.provider_id = {int(provider_id)}"
    }
"""


# Archives list several members; media notices one. Only the exceptions are read.
_MEMBERS_SQL = """
SELECT notice_id, COUNT(*) FROM notice_item GROUP BY notice_id HAVING COUNT(*) <> 1
"""
# Few sightings are reached from Tor, so this starts from them, not from every notice.
_TOR_SQL = """
SELECT DISTINCT i.notice_id FROM sighting s
JOIN detection d ON d.sighting_id = s.id
JOIN notice_item i ON i.detection_id = d.id
WHERE s.reached_from_tor
"""

# Notices with a video among their detected media (issue 16): from the few video media, not
# from every notice.
_VIDEO_SQL = """
SELECT DISTINCT i.notice_id FROM media m
JOIN sighting s ON s.media_id = m.id
JOIN detection d ON d.sighting_id = s.id
JOIN notice_item i ON i.detection_id = d.id
WHERE m.mime_type LIKE 'video/%'
"""
# Detected sightings of videos: the rest of `detected` are pictures.
_DETECTED_VIDEOS_SQL = """
SELECT COUNT(DISTINCT d.sighting_id) FROM media m
JOIN sighting s ON s.media_id = m.id
JOIN detection d ON d.sighting_id = s.id
WHERE m.mime_type LIKE 'video/%'
"""


# The hosting country of each notice's host, where its attribution recorded one.
_COUNTRY_SQL = """
SELECT n.id, a.country FROM notice n JOIN attribution_cache a ON a.host = n.host
WHERE n.first_sent_at IS NOT NULL AND a.country IS NOT NULL
"""


# A sighting counts once however many bank entries it matched. SQLite answers COUNT(DISTINCT)
# from the (category, sighting) index in one pass; PostgreSQL sorts for it, and is much faster
# hashing a DISTINCT subquery. [SQLite form, PostgreSQL form]
_DETECTED_SQL = (
    "SELECT COUNT(DISTINCT sighting_id) FROM detection",
    "SELECT COUNT(*) FROM (SELECT DISTINCT sighting_id FROM detection) AS d",
)
_BY_CATEGORY_SQL = (
    "SELECT category, COUNT(DISTINCT sighting_id) FROM detection GROUP BY category",
    "SELECT category, COUNT(*) FROM (SELECT DISTINCT category, sighting_id FROM detection) AS d "
    "GROUP BY category",
)


def _lookup(ids: np.ndarray, pairs: list[tuple[int, int]], default: int) -> np.ndarray:
    """Values for `ids` from (id, value) pairs, `default` for ids not listed."""
    out = np.full(len(ids), default, dtype=np.int64)
    if pairs:
        keys, values = np.asarray(pairs, dtype=np.int64).T
        order = np.argsort(keys)
        keys, values = keys[order], values[order]
        pos = np.clip(np.searchsorted(keys, ids), 0, len(keys) - 1)
        hit = keys[pos] == ids
        out[hit] = values[pos[hit]]
    return out


def load_notices(store: Store, provider_id: int | None = None) -> pd.DataFrame:
    """One row per notice sent (to `provider_id` only, if given), in `NOTICE_COLUMNS`, with
    removal durations in days.

    A removed notice lasts from the first notice to its estimated removal (midway between the
    last check that saw it online and the first that confirmed it gone). One still online is
    censored at the last time it was seen online: that is all we know about it.
    """
    with store.engine.connect() as conn:
        rows = _fetch(conn, _notices_sql(store.dialect, provider_id))
        if not rows:
            return empty_notices()
        members = _fetch(conn, _MEMBERS_SQL)
        tor_ids = np.asarray([r[0] for r in _fetch(conn, _TOR_SQL)], dtype=np.int64)
        countries = _fetch(conn, _COUNTRY_SQL)
        video_ids = np.asarray([r[0] for r in _fetch(conn, _VIDEO_SQL)], dtype=np.int64)
        providers: dict[int, str] = dict(
            conn.execute(sa.text("SELECT id, name FROM provider")).all()
        )
        types: dict[int, str] = dict(
            conn.execute(sa.text("SELECT id, service_type FROM provider")).all()
        )
    data = np.asarray(rows, dtype=np.float64)
    ids = data[:, 0].astype(np.int64)
    provider_ids = data[:, 1].astype(np.int64)
    sent_days, end_days = data[:, 2], data[:, 3]
    categories = np.asarray((*CATEGORIES, "unknown"), dtype=object)[data[:, 6].astype(np.int64)]
    frame = pd.DataFrame(
        {
            "provider": _labels(provider_ids, providers),
            "service_type": _labels(provider_ids, types),
            "sent_at": _EPOCH + (sent_days * _US_PER_DAY).astype("timedelta64[us]"),
            "duration_days": np.maximum(end_days - sent_days, 0.0),
            "removed": data[:, 4] > 0,
            "recidivist": data[:, 5] > 0,
            "category": categories,
            "reached_from_tor": (data[:, 8] > 0) | np.isin(ids, tor_ids),
            "archive": data[:, 7] > 0,
            "members": _lookup(ids, members, 1),
            "followups": np.maximum(data[:, 9].astype(np.int64) - 1, 0),
            "escalations": data[:, 10].astype(np.int64),
            "country": _countries(ids, countries),
            "media_type": np.where(np.isin(ids, video_ids), "video", "picture").astype(object),
        }
    )
    return frame.astype(NOTICE_COLUMNS)


def _countries(ids: np.ndarray, pairs: list[tuple[Any, ...]]) -> np.ndarray:
    """The country per notice id ("" where none), through small codes: few distinct values."""
    names = sorted({str(c) for _i, c in pairs})
    codes = {name: k + 1 for k, name in enumerate(names)}
    table = np.asarray(["", *names], dtype=object)
    return table[_lookup(ids, [(int(i), codes[str(c)]) for i, c in pairs], 0)]


def _fetch(conn: sa.Connection, sql: str) -> list[tuple[Any, ...]]:
    """Plain tuples from the driver: SQLAlchemy rows cost microseconds each through NumPy."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _labels(keys: np.ndarray, labels: dict[int, str]) -> np.ndarray:
    """`labels[key]` for every key, through a lookup table: one string object per label."""
    table = np.full(max(labels, default=0) + 1, None, dtype=object)
    for key, label in labels.items():
        table[key] = label
    return table[keys]


def _scalar(conn: sa.Connection, sql: str) -> int:
    return int(conn.execute(sa.text(sql)).scalar() or 0)


def load_inputs(store: Store) -> ReportInputs:
    """Notices plus the counts Figure 1.0 needs (detections, suspects, Tor-only content)."""
    notices = load_notices(store)
    with store.engine.connect() as conn:
        detected = _scalar(conn, _DETECTED_SQL[store.dialect == "postgresql"])
        by_category: dict[str, int] = {
            str(k): int(v)
            for k, v in conn.execute(sa.text(_BY_CATEGORY_SQL[store.dialect == "postgresql"])).all()
        }
        not_clear = _scalar(
            conn,
            "SELECT COUNT(DISTINCT d.sighting_id) FROM sighting s "
            "JOIN detection d ON d.sighting_id = s.id WHERE s.network <> 'clear'",
        )
        videos = _scalar(conn, _DETECTED_VIDEOS_SQL)
        backlog = _scalar(conn, "SELECT COUNT(*) FROM suspect WHERE status = 'pending'")
        tor_only = _scalar(conn, "SELECT COUNT(*) FROM notice WHERE status = 'tor_only'")
        gone = _scalar(conn, f"SELECT COUNT(*) FROM notice WHERE status = '{GONE_PRE_NOTICE}'")
        held_n, held_s = conn.execute(
            sa.text("SELECT COUNT(*), SUM(held_seconds) FROM notice WHERE held_seconds > 0")
        ).one()
        cadence = recheck_cadence(conn)
    return ReportInputs(
        notices=notices,
        detected=detected,
        detected_by_category=by_category,
        detected_by_media_type={"picture": detected - videos, "video": videos},
        detected_clear_web=detected - not_clear,
        suspect_backlog=backlog,
        tor_only=tor_only,
        removed_before_notice=gone,
        held_notices=int(held_n or 0),
        held_days=float(held_s or 0.0) / 86_400,
        recheck_cadence=cadence,
    )


def recheck_cadence(conn: sa.Connection | None = None) -> str:
    """The re-check cadence in words, printed next to every removal figure: the one the
    monitor recorded in the store (the last in force), else this process's settings."""
    from orbweaver.monitor import MonitorSettings, cadence_of, cadence_text, recorded_cadence

    recorded = recorded_cadence(conn) if conn is not None else None
    return cadence_text(recorded or cadence_of(MonitorSettings()))
