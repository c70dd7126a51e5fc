"""The review stage (docs/architecture.md): the suspect queue, analysts' assessments, consensus
into bank entries, analyst accounts and exposure limits.

Public surface (other stages import these from `orbweaver.review`, never from its modules):
`ReviewService` (what the console and its JSON API call) and its views (`ItemView`,
`SightingView`), `ReviewQueue` and `SyncReport`, accounts (`Principal`, `add_user`,
`principal_of`, `ROLE_RANK`), errors (`ReviewError`, `NotFound`, `Forbidden`, `Busy`) and
`ReviewSettings`. Nothing is imported until used (`orbweaver._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.review.accounts import ROLE_RANK, Principal, add_user, principal_of
    from orbweaver.review.errors import Busy, Forbidden, NotFound, ReviewError
    from orbweaver.review.queue import ReviewQueue, SyncReport
    from orbweaver.review.service import ItemView, ReviewService, SightingView
    from orbweaver.review.settings import ReviewSettings
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".accounts": ["ROLE_RANK", "Principal", "add_user", "principal_of"],
            ".errors": ["Busy", "Forbidden", "NotFound", "ReviewError"],
            ".queue": ["ReviewQueue", "SyncReport"],
            ".service": ["ItemView", "ReviewService", "SightingView"],
            ".settings": ["ReviewSettings"],
        },
    )

__all__ = [
    "ROLE_RANK",
    "Busy",
    "Forbidden",
    "ItemView",
    "NotFound",
    "Principal",
    "ReviewError",
    "ReviewQueue",
    "ReviewService",
    "ReviewSettings",
    "SightingView",
    "SyncReport",
    "add_user",
    "principal_of",
]
