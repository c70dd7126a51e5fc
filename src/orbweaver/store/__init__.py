"""The store: SQLAlchemy models, migrations, sessions and the append-only event log.

Stages talk to each other through these rows and events, never through each other's internals.
"""

from orbweaver.store.db import Store, open_store
from orbweaver.store.events import record_event
from orbweaver.store.vault import Vault, VaultError, new_key, rekey_suspects

__all__ = [
    "Store",
    "Vault",
    "VaultError",
    "new_key",
    "open_store",
    "record_event",
    "rekey_suspects",
]
