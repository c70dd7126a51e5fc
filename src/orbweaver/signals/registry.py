"""Fingerprint types, python-threatexchange style: a name, how to compute it, how to compare it.

Banks, the match index and bank import/export look signal types up here by name, so adding vPDQ or
a licensed PhotoDNA plug-in is one `register_signal_type` call, not an edit across stages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from orbweaver.signals.decode import DecodedImage
from orbweaver.signals.pdq import hamming, normalize_pdq, pdq_from_image


@runtime_checkable
class SignalType(Protocol):
    """What every fingerprint type offers."""

    @property
    def name(self) -> str: ...

    def normalize(self, value: str) -> str:
        """Canonical text form of a stored value; ValueError when it is not one."""
        ...

    def distance(self, a: str, b: str) -> int:
        """0 for identical; for exact types any difference is 1."""
        ...

    def matches(self, a: str, b: str, threshold: int) -> bool:
        """True when `a` and `b` are the same media under `threshold`."""
        ...


@runtime_checkable
class BytesSignalType(SignalType, Protocol):
    """A signal computed from the raw bytes (cryptographic hashes)."""

    def compute_bytes(self, data: bytes) -> str: ...


@runtime_checkable
class ImageSignalType(SignalType, Protocol):
    """A signal computed from the decoded picture; returns the value and its quality."""

    def compute_image(self, image: DecodedImage) -> tuple[str, int]: ...


@dataclass(frozen=True)
class CryptoSignalType:
    """An exact-match hash of the bytes (sha256, sha1, md5)."""

    name: str
    hex_length: int
    factory: Callable[[bytes], hashlib._Hash]

    def compute_bytes(self, data: bytes) -> str:
        return self.factory(data).hexdigest()

    def normalize(self, value: str) -> str:
        text = value.strip().lower()
        if len(text) != self.hex_length or any(c not in "0123456789abcdef" for c in text):
            raise ValueError(
                f"not a {self.name} hash ({self.hex_length} hex characters): {value!r}"
            )
        return text

    def distance(self, a: str, b: str) -> int:
        return 0 if self.normalize(a) == self.normalize(b) else 1

    def matches(self, a: str, b: str, threshold: int = 0) -> bool:
        return self.distance(a, b) == 0


@dataclass(frozen=True)
class PdqSignalType:
    """PDQ: a 256-bit perceptual hash compared by Hamming distance."""

    name: str = "pdq"
    default_threshold: int = 31  # HMA's default
    min_quality: int = 50  # below it HMA does not match perceptually

    def compute_image(self, image: DecodedImage) -> tuple[str, int]:
        return pdq_from_image(image)

    def normalize(self, value: str) -> str:
        return normalize_pdq(value)

    def distance(self, a: str, b: str) -> int:
        return hamming(normalize_pdq(a), normalize_pdq(b))

    def matches(self, a: str, b: str, threshold: int = 31) -> bool:
        return self.distance(a, b) <= threshold


SHA256 = CryptoSignalType("sha256", 64, hashlib.sha256)
SHA1 = CryptoSignalType("sha1", 40, hashlib.sha1)
MD5 = CryptoSignalType("md5", 32, hashlib.md5)
PDQ = PdqSignalType()

_REGISTRY: dict[str, SignalType] = {}


def register_signal_type(signal_type: SignalType) -> None:
    """Make a signal type known by its name (replacing one of the same name)."""
    _REGISTRY[signal_type.name] = signal_type


def get_signal_type(name: str) -> SignalType:
    """The registered type called `name`; KeyError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown signal type {name!r}; known: {', '.join(_REGISTRY)}") from None


def signal_types() -> Mapping[str, SignalType]:
    """All registered types, by name, in registration order."""
    return dict(_REGISTRY)


for _builtin in (SHA256, SHA1, MD5, PDQ):
    register_signal_type(_builtin)
