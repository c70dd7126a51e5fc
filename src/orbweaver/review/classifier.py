"""The classifier plug-in point: a score per suspect from a model the hotline brings.

None ships with orbweaver. A hotline names its own in `review_classifier`: either
`package.module:factory` or the name of an entry point in the `orbweaver.classifiers` group.
The factory is called once with the `ReviewSettings` and returns the classifier: a callable
taking a `ClassifierInput` and returning a score in [0, 1] (how likely the suspect is
actionable) or None to abstain. The score is asked once per queue item and media, kept in
memory by the queue, and used by the queue orders (`priority` and `expected`).

A classifier that raises or returns something else than a number abstains for that item: the
item is ranked without a score and the error is logged, never lost in flight.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orbweaver.review.settings import ReviewSettings

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "orbweaver.classifiers"


@dataclass(frozen=True)
class ClassifierInput:
    """What a classifier may look at: the media's hashes, where it was seen, and its bytes on
    request (decrypted from the vault only when the classifier asks; None when sealed away)."""

    media_id: int
    sha256: str
    pdq: str | None
    urls: tuple[str, ...] = ()
    load_bytes: Callable[[], bytes | None] = field(default=lambda: None, repr=False)


Classifier = Callable[[ClassifierInput], float | None]
ClassifierFactory = Callable[["ReviewSettings"], Classifier]


class ClassifierError(ValueError):
    """The configured classifier cannot be loaded."""


def _resolve(name: str) -> ClassifierFactory:
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ClassifierError(f"review_classifier {name!r}: {exc}") from exc
        return obj  # type: ignore[return-value]
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise ClassifierError(
            f"review_classifier {name!r}: neither module:factory nor an entry point in "
            f"{ENTRY_POINT_GROUP!r}"
        )
    loaded: ClassifierFactory = found[0].load()
    return loaded


def load_classifier(settings: ReviewSettings) -> Classifier | None:
    """The configured classifier, or None when `review_classifier` is empty."""
    name = settings.review_classifier.strip()
    if not name:
        return None
    factory = _resolve(name)
    if not callable(factory):
        raise ClassifierError(f"review_classifier {name!r} is not callable")
    classifier = factory(settings)
    if not callable(classifier):
        raise ClassifierError(f"review_classifier {name!r}: its factory returned no callable")
    return classifier


def safe_score(classifier: Classifier, item: ClassifierInput) -> float | None:
    """The classifier's score clipped to [0, 1], or None when it abstains or fails."""
    try:
        value = classifier(item)
    except Exception:  # a plug-in's failure costs its score, never the sync in flight
        log.exception("classifier failed on media %s", item.media_id)
        return None
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return min(1.0, max(0.0, value)) if math.isfinite(value) else None
