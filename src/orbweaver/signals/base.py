"""What a signal type is, in python-threatexchange's shape (`SignalType`, `SignalTypeIndex`).

A signal type owns everything about its fingerprints: its name (the `signal_type` column of bank
entries and detections, the CSV's first column), how a value is validated and written
(`normalize`), how two values compare (`distance`, `matches` under a threshold, its default
threshold, a quality floor where it has one), how a media's values are read for matching
(`queries`), and which index searches many of them (`new_index`). Banks, the matcher, the crawl's
signal computation and the Shield API ask the registry (`registry.py`) for the types instead of
naming them, so vPDQ or a licensed PhotoDNA is one module under `signals/types/` plus a
`register_signal_type` call.

Exact types (cryptographic hashes) match identical values only and are indexed in a dict; near
types (PDQ) match within a distance and bring their own index (PDQ's multi-index hashing).
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from orbweaver.signals.decode import DecodedImage

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,15}")
"""A signal type's name: lower_with_underscores (python-threatexchange's style), at most 16
characters (the store's `signal_type` columns), and safe to write into SQL as a literal."""

Hits = list[tuple[int, int]]
"""One query's hits: (entry id, distance), closest first."""

Ids = Sequence[int] | np.ndarray


Query = tuple[Sequence[str], str | None]
"""A media's values of one type to look up, and why that type was not matched (None: it was
not skipped). A plain tuple: the matcher asks every type for every media."""


class IndexLoader(Protocol):
    """A bulk load into an index: many `extend` calls, then `finish` (the store load uses it)."""

    def extend(self, values: Sequence[str], ids: Ids) -> None: ...

    def finish(self) -> None: ...


class SignalIndex(Protocol):
    """Entries (value, entry id) of one signal type, searched by value; append-only.

    Searches may run concurrently with an `add` (readers see the entries before or after it).
    """

    def __len__(self) -> int: ...

    def add(self, values: Sequence[str], ids: Ids) -> None:
        """Index entries; `values` are already normalised by the type."""
        ...

    def loader(self, capacity: int) -> IndexLoader:
        """A bulk loader for at most `capacity` entries, visible once `finish` returns."""
        ...

    def search(self, queries: Sequence[str], threshold: int) -> list[Hits]:
        """For each query, the entries within `threshold`, by distance then id."""
        ...


class DirectLoader:
    """The loader of an index without a bulk path: each `extend` is an `add`."""

    def __init__(self, index: SignalIndex) -> None:
        self.index = index

    def extend(self, values: Sequence[str], ids: Ids) -> None:
        self.index.add(values, ids)

    def finish(self) -> None:
        return None


def _id_list(ids: Ids) -> list[int]:
    return ids.tolist() if isinstance(ids, np.ndarray) else [int(i) for i in ids]


class ExactIndex:
    """Exact types' index: a dict from value to entry ids (python-threatexchange's
    `TrivialSignalTypeIndex`). Writers hold a lock; readers do not need it (a dict lookup and a
    list append are atomic in CPython)."""

    def __init__(self) -> None:
        self._entries: defaultdict[str, list[int]] = defaultdict(list)
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def add(self, values: Sequence[str], ids: Ids) -> None:
        entries = self._entries
        with self._lock:
            for value, entry_id in zip(values, _id_list(ids), strict=True):
                entries[value].append(entry_id)
            self._count += len(values)

    def loader(self, capacity: int) -> IndexLoader:
        return DirectLoader(self)

    def lookup(self, value: str) -> list[int]:
        """Entry ids holding exactly `value` (the matcher's fast path)."""
        return self._entries.get(value, [])

    def search(self, queries: Sequence[str], threshold: int = 0) -> list[Hits]:
        return [[(i, 0) for i in self._entries.get(q, ())] for q in queries]


class LinearIndex:
    """A near type's index by brute force over `signal_type.distance` (python-threatexchange's
    `TrivialLinearSearchHashIndex`): for small plug-in lists, and as the reference a faster
    index is tested against."""

    def __init__(self, signal_type: SignalType) -> None:
        self.signal_type = signal_type
        self._entries: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, values: Sequence[str], ids: Ids) -> None:
        with self._lock:
            self._entries.extend(zip(values, _id_list(ids), strict=True))

    def loader(self, capacity: int) -> IndexLoader:
        return DirectLoader(self)

    def search(self, queries: Sequence[str], threshold: int) -> list[Hits]:
        entries, distance = self._entries, self.signal_type.distance
        out = []
        for query in queries:
            hits = [(i, d) for value, i in entries if (d := distance(query, value)) <= threshold]
            out.append(sorted(hits, key=lambda hit: (hit[1], hit[0])))
        return out


class SignalType(ABC):
    """One kind of fingerprint. Subclass it (or `BytesSignalType` / `ImageSignalType`, which say
    what it is computed from) and register an instance."""

    name: str
    """Registry key and stored `signal_type` (see NAME_RE)."""
    exact: bool = True
    """True: only identical values match, the distance is 0 or 1 and thresholds do not apply."""
    default_threshold: int = 0
    """Largest distance that still matches when nobody set a threshold."""
    quality_floor: int | None = None
    """A media whose value has a quality (`<name>_quality`) below this is not matched."""
    missing: str | None = None
    """Why a media without a value of this type was not matched (None: say nothing)."""

    @property
    def label(self) -> str:
        """The type's name as a person reads it in messages."""
        return self.name.upper()

    @abstractmethod
    def normalize(self, value: str) -> str:
        """The canonical text form of a value (what banks store); ValueError when not one."""

    def distance(self, a: str, b: str) -> int:
        """0 for the same media; for exact types any difference is 1."""
        return 0 if self.normalize(a) == self.normalize(b) else 1

    def matches(self, a: str, b: str, threshold: int | None = None) -> bool:
        """True when `a` and `b` are the same media under `threshold` (default: the type's)."""
        limit = 0 if self.exact else self.default_threshold if threshold is None else threshold
        return self.distance(a, b) <= limit

    def query_key(self, value: str) -> str | None:
        """The form an exact index is searched by for a query `value`; None when it cannot be a
        value of this type (then nothing matches it). The normalised form by default; types
        whose stored values are known-clean override it with something cheaper."""
        try:
            return self.normalize(value)
        except ValueError:
            return None

    def threshold_for_bank(self, bank_threshold: int) -> int:
        """The distance this type matches within in a bank whose threshold is `bank_threshold`
        (a bank's threshold is a PDQ distance; a type that does not use it keeps its own)."""
        return 0 if self.exact else self.default_threshold

    def new_index(self) -> SignalIndex:
        """An empty index for this type's bank entries (python-threatexchange: `get_index_cls`)."""
        return ExactIndex() if self.exact else LinearIndex(self)

    def queries(self, media: object, quality_floor: int | None = None) -> Query:
        """What to look up for `media` (an object with an attribute, or an `extra` entry, named
        after the type), or why not: no value, or a quality below `quality_floor`."""
        value = signal_value(media, self.name)
        if value is None:
            return (), self.missing
        if quality_floor is not None:
            quality = getattr(media, f"{self.name}_quality", None)
            if (quality or 0) < quality_floor:
                reason = (
                    f"{self.label} quality {quality} below {quality_floor}: "
                    "too little detail to match perceptually"
                )
                return (), reason
        return (value,), None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class BytesSignalType(SignalType):
    """A type computed from a file's bytes (cryptographic hashes; video MD5 in HMA's terms)."""

    @abstractmethod
    def compute_bytes(self, data: bytes) -> str: ...


class ImageSignalType(SignalType):
    """A type computed from the decoded picture; `compute_image` returns value and quality."""

    @abstractmethod
    def compute_image(self, image: DecodedImage) -> tuple[str, int]: ...


def signal_value(media: object, name: str) -> str | None:
    """A media's value of the type called `name`: its attribute of that name (the built-in
    types are fields of `MediaSignals`), else its `extra` entry (any other registered type)."""
    value = getattr(media, name, None)
    if value is None:
        extra = getattr(media, "extra", None)
        if extra:
            value = extra.get(name)
    return value if isinstance(value, str) else None
