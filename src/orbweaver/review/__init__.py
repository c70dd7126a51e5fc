"""The review stage (docs/architecture.md): the suspect queue, analysts' assessments, consensus
into bank entries, analyst accounts and exposure limits.

Public surface (other stages import these from `orbweaver.review`, never from its modules):
`ReviewService` (what the console and its JSON API call) and its views (`ItemView`,
`SightingView`), `ReviewQueue` and `SyncReport`, accounts (`Principal`, `add_user`,
`principal_of`, `ROLE_RANK`), the classifier plug-in point (`ClassifierInput`, `Classifier`,
`load_classifier`, `ENTRY_POINT_GROUP`), the queue orders (`ORDERS`, `order_key`,
`PriorityInputs`), errors (`ReviewError`, `NotFound`, `Forbidden`, `Busy`) and `ReviewSettings`.
Nothing is imported until used (`orbweaver._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.review.accounts import ROLE_RANK, Principal, add_user, principal_of
    from orbweaver.review.classifier import (
        ENTRY_POINT_GROUP,
        Classifier,
        ClassifierInput,
        load_classifier,
    )
    from orbweaver.review.errors import Busy, Forbidden, NotFound, ReviewError
    from orbweaver.review.priority import ORDERS, PriorityInputs, order_key
    from orbweaver.review.queue import ReviewQueue, SyncReport
    from orbweaver.review.service import ItemView, ReviewService, SightingView
    from orbweaver.review.settings import ReviewSettings
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".accounts": ["ROLE_RANK", "Principal", "add_user", "principal_of"],
            ".classifier": [
                "ENTRY_POINT_GROUP",
                "Busy",
                "Classifier",
                "ClassifierInput",
                "load_classifier",
            ],
            ".priority": ["ORDERS", "PriorityInputs", "order_key"],
            ".errors": ["Busy", "Forbidden", "NotFound", "ReviewError"],
            ".queue": ["ReviewQueue", "SyncReport"],
            ".service": ["ItemView", "ReviewService", "SightingView"],
            ".settings": ["ReviewSettings"],
        },
    )

__all__ = [
    "ENTRY_POINT_GROUP",
    "ORDERS",
    "ROLE_RANK",
    "Busy",
    "Classifier",
    "ClassifierInput",
    "Forbidden",
    "ItemView",
    "NotFound",
    "Principal",
    "PriorityInputs",
    "ReviewError",
    "ReviewQueue",
    "ReviewService",
    "ReviewSettings",
    "SightingView",
    "SyncReport",
    "add_user",
    "load_classifier",
    "order_key",
    "principal_of",
]
