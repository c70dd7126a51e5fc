"""store: the compact layout for what matched nothing (issue 22)

Revision ID: 0013_compact_storage
Revises: 0012_video_signals
Create Date: 2026-12-04

New tables: `media_signal_block` (signals packed 64 bytes a media), `crawl_seen` (URL hashes
seen on a host, partitioned by day on PostgreSQL: only the default partition here, the daily
ones are made by `orbweaver db maintain`), `crawl_host_day` (counts per host and day).

Data: sightings with neither detection nor suspect, on hosts without detections, become
`crawl_seen` rows (per host and day) and are deleted; every sighting counts in
`crawl_host_day`; media no row refers to any more become packed signal records and are deleted.
The downgrade drops the new tables: the URLs moved out were hashed, so they do not come back.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013_compact_storage"
down_revision: str | Sequence[str] | None = "0012_video_signals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CHUNK = 5000
_NO_PDQ = bytes(32)


def upgrade() -> None:
    _tables()
    bind = op.get_bind()
    _count_days(bind)
    _move_sightings(bind)
    _move_media(bind)


def _tables() -> None:
    op.create_table(
        "media_signal_block",
        sa.Column("id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("compacted", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("lo", sa.LargeBinary(), nullable=False),
        sa.Column("hi", sa.LargeBinary(), nullable=False),
        sa.Column("records", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_signal_block")),
    )
    op.create_index(op.f("ix_media_signal_block_created_at"), "media_signal_block", ["created_at"])
    op.create_index(op.f("ix_media_signal_block_lo"), "media_signal_block", ["lo"])
    if op.get_bind().dialect.name == "postgresql":
        # hashes do not compress: skip pglz's attempt, store out of line as they are
        op.execute("ALTER TABLE media_signal_block ALTER COLUMN records SET STORAGE EXTERNAL")
    op.create_table(
        "crawl_seen",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("url_hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("host", "seen_at", "id", name=op.f("pk_crawl_seen")),
        postgresql_partition_by="RANGE (seen_at)",
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TABLE crawl_seen_pdefault PARTITION OF crawl_seen DEFAULT")
    op.create_table(
        "crawl_host_day",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("fetched", sa.BigInteger(), nullable=False),
        sa.Column("unmatched", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("host", "day", name=op.f("pk_crawl_host_day")),
    )


def _day(bind: Any) -> str:
    if bind.dialect.name == "postgresql":
        return "to_char(s.seen_at, 'YYYY-MM-DD')"
    return "substr(s.seen_at, 1, 10)"


def _count_days(bind: Any) -> None:
    """Every sighting so far, per host and day: fetched, and unmatched (no detection)."""
    rows = bind.execute(
        sa.text(
            f"SELECT s.host, {_day(bind)} AS day, count(*) AS fetched, "
            "sum(CASE WHEN NOT EXISTS (SELECT 1 FROM detection d WHERE d.sighting_id = s.id) "
            "THEN 1 ELSE 0 END) AS unmatched FROM sighting s GROUP BY s.host, day"
        )
    ).all()
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO crawl_host_day (host, day, fetched, unmatched) "
                "VALUES (:host, :day, :fetched, :unmatched)"
            ),
            [dict(r._mapping) for r in rows],
        )


_PLAIN = (
    "FROM sighting s WHERE NOT EXISTS (SELECT 1 FROM detection d WHERE d.sighting_id = s.id) "
    "AND NOT EXISTS (SELECT 1 FROM suspect u WHERE u.sighting_id = s.id) "
    "AND s.host NOT IN (SELECT s2.host FROM sighting s2 JOIN detection d2 "
    "ON d2.sighting_id = s2.id)"
)


def _move_sightings(bind: Any) -> None:
    """Unmatched sightings on hosts without detections: their URLs hashed, the rows gone."""
    rng = random.SystemRandom()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT s.id, s.host, s.url, s.seen_at {_PLAIN} AND s.id > :last "
                "ORDER BY s.id LIMIT :n"
            ),
            {"last": last, "n": _CHUNK},
        ).all()
        if not rows:
            return
        groups: dict[tuple[str, Any], list[bytes]] = defaultdict(list)
        for _, host, url, seen_at in rows:
            groups[(host, seen_at)].append(hashlib.sha256(url.encode()).digest()[:8])
        bind.execute(
            sa.text(
                "INSERT INTO crawl_seen (id, seen_at, host, n, url_hashes) "
                "VALUES (:id, :seen_at, :host, :n, :url_hashes)"
            ),
            [
                {
                    "id": rng.getrandbits(62),
                    "seen_at": seen_at,
                    "host": host,
                    "n": len(hashes),
                    "url_hashes": b"".join(sorted(set(hashes))),
                }
                for (host, seen_at), hashes in groups.items()
            ],
        )
        ids = [r[0] for r in rows]
        bind.execute(
            sa.text("DELETE FROM sighting WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
        last = ids[-1]


_ORPHAN = (
    "FROM media m WHERE NOT EXISTS (SELECT 1 FROM sighting s WHERE s.media_id = m.id) "
    "AND NOT EXISTS (SELECT 1 FROM suspect u WHERE u.media_id = m.id) "
    "AND NOT EXISTS (SELECT 1 FROM notice_item n WHERE n.media_id = m.id) "
    "AND NOT EXISTS (SELECT 1 FROM review_item r WHERE r.media_id = m.id)"
)


def _move_media(bind: Any) -> None:
    """Media nothing refers to any more: packed into signal blocks (sorted, deduplicated),
    their rows gone."""
    records: dict[bytes, bytes] = {}
    first_seen = None
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT m.id, m.sha256, m.md5, m.sha1, m.pdq, m.pdq_quality, m.first_seen_at "
                f"{_ORPHAN} AND m.id > :last ORDER BY m.id LIMIT :n"
            ),
            {"last": last, "n": _CHUNK},
        ).all()
        if not rows:
            break
        for _, sha256, md5, sha1, pdq, quality, seen in rows:
            key = bytes.fromhex(sha256)[:16]
            keep_pdq = bytes.fromhex(pdq) if pdq and (quality or 0) >= 50 else _NO_PDQ
            records[key] = key + bytes.fromhex(md5)[:8] + bytes.fromhex(sha1)[:8] + keep_pdq
            first_seen = seen if first_seen is None or seen < first_seen else first_seen
        ids = [r[0] for r in rows]
        bind.execute(
            sa.text("DELETE FROM media WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
        last = ids[-1]
    ordered = [records[k] for k in sorted(records)]
    for i in range(0, len(ordered), 1024):
        block = ordered[i : i + 1024]
        bind.execute(
            sa.text(
                "INSERT INTO media_signal_block (created_at, compacted, n, lo, hi, records) "
                "VALUES (:at, :c, :n, :lo, :hi, :r)"
            ),
            {
                "at": first_seen,
                "c": True,
                "n": len(block),
                "lo": block[0][:16],
                "hi": block[-1][:16],
                "r": b"".join(block),
            },
        )


def downgrade() -> None:
    op.drop_table("crawl_host_day")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS crawl_seen CASCADE")
    else:
        op.drop_table("crawl_seen")
    op.drop_index(op.f("ix_media_signal_block_lo"), table_name="media_signal_block")
    op.drop_index(op.f("ix_media_signal_block_created_at"), table_name="media_signal_block")
    op.drop_table("media_signal_block")
