"""store: the compact layout, second cut (issue 22: <= 100 bytes a fetched unmatched picture)

Revision ID: 0015_storage_compact2
Revises: 0014_casework
Create Date: 2026-12-04

- `crawl_page`: the page's key is 16 raw bytes of its URL's SHA-256 (`url_key`, unique) rather
  than 64 hex characters (`url_hash`), which the row and its unique index each stored; the
  index on `host` (no query used it) is dropped. The downgrade recomputes `url_hash` from `url`.
- `media_signal_block`: records lose the last 4 bytes of their SHA-256 prefix (16 -> 12 bytes:
  60 bytes a record rather than 64), `lo` and `hi` likewise. The downgrade pads them with zeros
  (the cut bytes do not come back: a padded prefix no longer finds its media by sha256).
  A `bloom` column (a Bloom filter of a compacted block's keys, so compaction reads only the
  blocks a new key may be in) is filled for the compacted blocks there are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from orbweaver.store.compact import bloom_of

revision: str = "0015_storage_compact2"
down_revision: str | Sequence[str] | None = "0014_casework"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 5000
_OLD, _NEW = 16, 12  # sha256 prefix bytes in a signal record
_TAIL = 48  # md5[:8] | sha1[:8] | pdq[32]


def _key(url: str) -> bytes:
    return hashlib.sha256(url.encode("utf-8", "surrogateescape")).digest()[:16]


def _fill(column: str, value: Callable[[str], object]) -> None:
    bind = op.get_bind()
    page = sa.table("crawl_page", sa.column("id"), sa.column("url"), sa.column(column))
    last = -1
    while True:
        rows = bind.execute(
            sa.select(page.c.id, page.c.url)
            .where(page.c.id > last)
            .order_by(page.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        for row in rows:
            bind.execute(
                sa.update(page).where(page.c.id == row.id).values({column: value(row.url)})
            )
        last = rows[-1].id


def _repack(old: int, new: int) -> None:
    bind = op.get_bind()
    block = sa.table(
        "media_signal_block",
        sa.column("id"),
        sa.column("lo", sa.LargeBinary),
        sa.column("hi", sa.LargeBinary),
        sa.column("records", sa.LargeBinary),
        sa.column("compacted", sa.Boolean),
        sa.column("bloom", sa.LargeBinary),
    )

    def cut(key: bytes) -> bytes:
        return key[:new] if new < old else key[:old] + bytes(new - old)

    last = -1
    while True:
        rows = bind.execute(
            sa.select(block.c.id, block.c.lo, block.c.hi, block.c.records, block.c.compacted)
            .where(block.c.id > last)
            .order_by(block.c.id)
            .limit(100)
        ).all()
        if not rows:
            return
        for row in rows:
            blob = bytes(row.records)
            size = old + _TAIL
            records = b"".join(
                cut(blob[i : i + old]) + blob[i + old : i + size] for i in range(0, len(blob), size)
            )
            values = {"lo": cut(bytes(row.lo)), "hi": cut(bytes(row.hi)), "records": records}
            if new < old and row.compacted:
                keys = [records[i : i + new] for i in range(0, len(records), new + _TAIL)]
                values["bloom"] = bloom_of(keys, len(keys))
            bind.execute(sa.update(block).where(block.c.id == row.id).values(values))
        last = rows[-1].id


def upgrade() -> None:
    op.add_column("media_signal_block", sa.Column("bloom", sa.LargeBinary(), nullable=True))
    op.add_column("crawl_page", sa.Column("url_key", sa.LargeBinary(), nullable=True))
    _fill("url_key", _key)
    with op.batch_alter_table("crawl_page") as batch:
        batch.drop_index("ix_crawl_page_host")
        batch.drop_constraint("uq_crawl_page_url_hash", type_="unique")
        batch.drop_column("url_hash")
        batch.alter_column("url_key", existing_type=sa.LargeBinary(), nullable=False)
        batch.create_unique_constraint("uq_crawl_page_url_key", ["url_key"])
    _repack(_OLD, _NEW)


def downgrade() -> None:
    _repack(_NEW, _OLD)
    with op.batch_alter_table("media_signal_block") as batch:
        batch.drop_column("bloom")
    op.add_column("crawl_page", sa.Column("url_hash", sa.String(length=64), nullable=True))
    _fill(
        "url_hash", lambda url: hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()
    )
    with op.batch_alter_table("crawl_page") as batch:
        batch.drop_constraint("uq_crawl_page_url_key", type_="unique")
        batch.drop_column("url_key")
        batch.alter_column("url_hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("uq_crawl_page_url_hash", ["url_hash"])
        batch.create_index("ix_crawl_page_host", ["host"])
