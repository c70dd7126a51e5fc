"""The store: SQLAlchemy models, migrations, sessions and the append-only event log.

Stages talk to each other through these rows and events, never through each other's internals.
"""

from orbweaver.store.db import Store, open_store
from orbweaver.store.events import record_event

__all__ = ["Store", "open_store", "record_event"]
