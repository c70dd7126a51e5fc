"""All signals of one file: the cryptographic hashes of its bytes and, for pictures, PDQ.

The split between "not a picture" and "broken picture" is what the `hash` command and the matcher
rely on:
- empty, or larger than `max_bytes`              → SignalError (nothing worth fingerprinting);
- Pillow does not recognise it and its leading bytes are not an image signature (a zip, an HTML
  page, random bytes) → MediaSignals with `pdq=None`: its crypto hashes still identify it;
- it is a picture, or its leading bytes say it is one, but it cannot be decoded (truncated,
  corrupt, or declaring more than `max_pixels`) → SignalError naming the reason.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orbweaver.signals.decode import DEFAULT_MAX_PIXELS, decode_image
from orbweaver.signals.errors import SignalError
from orbweaver.signals.pdq import pdq_dihedral_from_image
from orbweaver.signals.registry import MD5, PDQ, SHA1, SHA256
from orbweaver.signals.sniff import sniff_mime

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Files above this size are refused unread: no web image needs more, and memory stays bounded."""


@dataclass(frozen=True)
class MediaSignals:
    """The fingerprints of one file (DESIGN.md: media and its signals)."""

    sha256: str
    sha1: str
    md5: str
    size_bytes: int
    mime_type: str | None
    pdq: str | None = None
    pdq_quality: int | None = None
    width: int | None = None
    height: int | None = None

    @property
    def is_image(self) -> bool:
        return self.pdq is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_signals(
    data: bytes,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> MediaSignals:
    """Fingerprint `data`; see the module docstring for what raises SignalError."""
    _check_size(len(data), max_bytes)
    decoded = decode_image(data, max_pixels=_or(max_pixels, DEFAULT_MAX_PIXELS))
    sha256, sha1, md5 = (t.compute_bytes(data) for t in (SHA256, SHA1, MD5))
    if decoded is None:
        return MediaSignals(sha256, sha1, md5, size_bytes=len(data), mime_type=sniff_mime(data))
    pdq, quality = PDQ.compute_image(decoded)
    return MediaSignals(
        sha256,
        sha1,
        md5,
        size_bytes=len(data),
        mime_type=decoded.mime_type,
        pdq=pdq,
        pdq_quality=quality,
        width=decoded.width,
        height=decoded.height,
    )


def compute_signals_dihedral(
    data: bytes,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> tuple[MediaSignals, list[str] | None]:
    """`compute_signals` plus the eight dihedral PDQ hashes (`pdq_dihedral`'s order, the first
    being the plain PDQ) from the same decode, so a matcher finds mirrored and rotated copies at
    the cost of one extra 16x16 coefficient transform. The hashes are None when not an image."""
    _check_size(len(data), max_bytes)
    decoded = decode_image(data, max_pixels=_or(max_pixels, DEFAULT_MAX_PIXELS))
    sha256, sha1, md5 = (t.compute_bytes(data) for t in (SHA256, SHA1, MD5))
    if decoded is None:
        plain = MediaSignals(sha256, sha1, md5, size_bytes=len(data), mime_type=sniff_mime(data))
        return plain, None
    hashes, quality = pdq_dihedral_from_image(decoded)
    signals = MediaSignals(
        sha256,
        sha1,
        md5,
        size_bytes=len(data),
        mime_type=decoded.mime_type,
        pdq=hashes[0],
        pdq_quality=quality,
        width=decoded.width,
        height=decoded.height,
    )
    return signals, hashes


def pdq_dihedral(data: bytes, *, max_pixels: int | None = None) -> list[str]:
    """The eight dihedral PDQ variants of a picture: original, rot90, rot180, rot270, flipx,
    flipy, flip+1, flip-1 (pdqhash's order). SignalError when `data` is not a picture."""
    _check_size(len(data), None)
    decoded = decode_image(data, max_pixels=_or(max_pixels, DEFAULT_MAX_PIXELS))
    if decoded is None:
        raise SignalError(f"not an image ({sniff_mime(data) or 'unknown type'})")
    hashes, _quality = pdq_dihedral_from_image(decoded)
    return hashes


def hash_path(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> MediaSignals:
    """Read a file (refusing one over `max_bytes` before reading it) and fingerprint it."""
    limit = _or(max_bytes, DEFAULT_MAX_BYTES)
    data = read_capped(Path(path), limit)
    return compute_signals(data, max_bytes=limit, max_pixels=max_pixels)


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, never reading more than `max_bytes + 1` of them (files can grow, and
    pipes or devices have no size to check up front)."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            _check_size(size, max_bytes)
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SignalError(f"cannot read: {exc.strerror or exc}") from exc
    _check_size(len(data), max_bytes)
    return data


def _check_size(size: int, max_bytes: int | None) -> None:
    if size == 0:
        raise SignalError("empty file")
    limit = _or(max_bytes, DEFAULT_MAX_BYTES)
    if size > limit:
        raise SignalError(f"too large: {size} bytes exceeds {limit} bytes")


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
