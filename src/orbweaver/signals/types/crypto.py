"""The exact signals: cryptographic hashes of a file's bytes (sha256, sha1, md5).

They identify a file whatever it is (a picture that does not decode, an archive, a video), so
every media carries them. `exact_hashes` is the one place they are computed, all in one call.
Each hasher takes the whole buffer: feeding 64 KiB chunks to every hasher in turn, to read the
bytes from memory once, measured 4-5% slower on 1 and 8 MiB (the hashing, not the memory, is the
bound; the bytes are already in memory).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from orbweaver.signals.base import BytesSignalType

_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, repr=False)
class CryptoSignalType(BytesSignalType):
    """An exact-match hash of the bytes, written as `hex_length` lower-case hex characters."""

    name: str
    hex_length: int
    factory: Callable[..., Any]
    """A hashlib constructor (`hashlib.sha256`...)."""

    def new_hasher(self) -> Any:
        """A fresh hashlib object. Not for security: identification only (FIPS builds refuse
        md5 and sha1 otherwise)."""
        return self.factory(usedforsecurity=False)

    def compute_bytes(self, data: bytes) -> str:
        return exact_hashes(data, (self,))[self.name]

    def query_key(self, value: str) -> str:
        # banks hold normalised lower-case hex, so any other text simply finds nothing: the
        # lookup of a crawled file's three hashes stays a dict `get` (no validation pass)
        return value.lower()

    def normalize(self, value: str) -> str:
        text = value.strip().lower()
        if len(text) != self.hex_length or not _HEX.fullmatch(text):
            raise ValueError(
                f"not a {self.name} hash ({self.hex_length} hex characters): {value!r}"
            )
        return text


SHA256 = CryptoSignalType("sha256", 64, hashlib.sha256)
SHA1 = CryptoSignalType("sha1", 40, hashlib.sha1)
MD5 = CryptoSignalType("md5", 32, hashlib.md5)
BUILTIN = (SHA256, SHA1, MD5)
"""The exact signals every media carries (the `media` table's columns)."""


def exact_hashes(data: bytes, types: Iterable[CryptoSignalType] = BUILTIN) -> dict[str, str]:
    """Hex digest of `data` for each type (the built-ins by default), by name."""
    out = {}
    for signal_type in types:
        hasher = signal_type.new_hasher()
        hasher.update(data)
        out[signal_type.name] = hasher.hexdigest()
    return out
