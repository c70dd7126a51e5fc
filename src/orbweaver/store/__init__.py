"""The store (docs/architecture.md): SQLAlchemy models, migrations, sessions, the UTC datetime
column type, the append-only event log with its catalogue of event kinds, and the suspect vault.

Stages talk to each other through these rows and events, never through each other's internals.
Public surface: `Store`, `open_store`; `record_event`, `EventKind`, `CATALOGUE`; `UtcDateTime`,
`store_now`, `store_time`; the vault (`Vault`, `VaultError`, `new_key`, `rekey_suspects`,
loaded on first use: it brings the cryptography package); the compact layout of what matched
nothing and its maintenance (`CompactSignals`, `write_signals`, `write_seen`, `count_host_day`,
`seen_urls`, `find_sha256`, `iter_signals`, `maintain`; issue 22; bulk inserts below the
ORM, COPY on PostgreSQL: `insert_rows`, `insert_returning`, `driver_value`, `one_of`; videos'
vPDQ frames: `CompactVideo`, `write_videos`, `iter_videos`, `find_video`, issue 16); and the schema,
`orbweaver.store.models`.
"""

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports
from orbweaver.store.db import Store, open_store
from orbweaver.store.events import CATALOGUE, EventKind, record_event
from orbweaver.store.times import UtcDateTime, store_now, store_time

if TYPE_CHECKING:
    from orbweaver.store.bulk import driver_value, insert_returning, insert_rows, one_of
    from orbweaver.store.compact import (
        CompactSignals,
        CompactVideo,
        count_error_day,
        count_host_day,
        find_sha256,
        find_video,
        iter_signals,
        iter_videos,
        seen_digests,
        seen_urls,
        url_digest,
        write_seen,
        write_signals,
        write_videos,
    )
    from orbweaver.store.partitions import Maintenance, include_name, maintain
    from orbweaver.store.vault import Vault, VaultError, new_key, rekey_suspects
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".vault": ["Vault", "VaultError", "new_key", "rekey_suspects"],
            ".bulk": ["driver_value", "insert_returning", "insert_rows", "one_of"],
            ".compact": [
                "CompactSignals",
                "CompactVideo",
                "count_error_day",
                "count_host_day",
                "find_sha256",
                "find_video",
                "iter_signals",
                "iter_videos",
                "seen_digests",
                "seen_urls",
                "url_digest",
                "write_seen",
                "write_signals",
                "write_videos",
            ],
            ".partitions": ["Maintenance", "include_name", "maintain"],
        },
    )

__all__ = [
    "CATALOGUE",
    "CompactSignals",
    "CompactVideo",
    "EventKind",
    "Maintenance",
    "Store",
    "UtcDateTime",
    "Vault",
    "VaultError",
    "count_error_day",
    "count_host_day",
    "driver_value",
    "find_sha256",
    "find_video",
    "include_name",
    "insert_returning",
    "insert_rows",
    "iter_signals",
    "iter_videos",
    "maintain",
    "new_key",
    "one_of",
    "open_store",
    "record_event",
    "rekey_suspects",
    "seen_digests",
    "seen_urls",
    "store_now",
    "store_time",
    "url_digest",
    "write_seen",
    "write_signals",
    "write_videos",
]
