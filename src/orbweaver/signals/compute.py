"""All signals of one file: the cryptographic hashes of its bytes and, for pictures, PDQ (and
the value of every other registered type computed from bytes or pictures, in `extra`).

The split between "not a picture" and "broken picture" is what the `hash` command and the matcher
rely on:
- empty, or larger than `max_bytes`              → SignalError (nothing worth fingerprinting);
- Pillow does not recognise it and its leading bytes are not an image signature (a zip, an HTML
  page, random bytes) → MediaSignals with `pdq=None`: its crypto hashes still identify it;
- it is a picture, or its leading bytes say it is one, but it cannot be decoded (truncated,
  corrupt, or declaring more than `max_pixels`) → SignalError naming the reason;
- its leading bytes say it is a video (MP4, MOV, WebM, Matroska, AVI, MPEG-TS) → MediaSignals
  with `vpdq` (in `extra`, python-threatexchange's text form) and `duration`, or SignalError
  when it is corrupt or over a cap of `VideoLimits` (video.py). Pictures never reach PyAV.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orbweaver.signals.base import BytesSignalType, ImageSignalType
from orbweaver.signals.decode import DEFAULT_MAX_PIXELS, DecodedImage, decode_image
from orbweaver.signals.errors import SignalError
from orbweaver.signals.pdq import pdq_dihedral_from_image
from orbweaver.signals.registry import PDQ, VPDQ, signal_types
from orbweaver.signals.sniff import is_video_mime, sniff_mime
from orbweaver.signals.types.crypto import BUILTIN, CryptoSignalType, exact_hashes
from orbweaver.signals.types.vpdq import format_vpdq

if TYPE_CHECKING:
    from orbweaver.signals.video import VideoLimits

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Files above this size are refused unread: no web image needs more, and memory stays bounded."""
DEFAULT_MAX_VIDEO_BYTES = 512 * 1024 * 1024
"""A file whose leading bytes say video may be this large (`hash_path`, the `hash` command)."""


@dataclass(frozen=True)
class MediaSignals:
    """The fingerprints of one file (docs/architecture.md, vocabulary: media and its signals).

    The built-in types are fields (the `media` table's columns); the value of any other
    registered type computed from the bytes or the picture is in `extra`, by type name, which is
    where the matcher (`base.signal_value`) finds it.
    """

    sha256: str
    sha1: str
    md5: str
    size_bytes: int
    mime_type: str | None
    pdq: str | None = None
    pdq_quality: int | None = None
    width: int | None = None
    height: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)
    duration: float | None = None
    """Seconds, for a video (its vPDQ is `extra["vpdq"]`)."""

    @property
    def is_image(self) -> bool:
        return self.pdq is not None

    @property
    def is_video(self) -> bool:
        return VPDQ.name in self.extra

    def as_dict(self) -> dict[str, Any]:
        """Every field, with `extra`'s values beside the built-in ones."""
        out = asdict(self)
        out.update(out.pop("extra"))
        return out


def compute_exact_signals(data: bytes) -> MediaSignals:
    """The signals of bytes that are not decoded (not a picture, a truncated one, a video):
    every type computed from the bytes alone, so the exact hashes still match banks."""
    return _exact(data, _Plugins.now())


def compute_signals(
    data: bytes,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    video_limits: VideoLimits | None = None,
) -> MediaSignals:
    """Fingerprint `data`; see the module docstring for what raises SignalError."""
    _check_size(len(data), max_bytes)
    decoded = decode_image(data, max_pixels=_or(max_pixels, DEFAULT_MAX_PIXELS))
    plugins = _Plugins.now()
    exact = _exact(data, plugins)
    if decoded is None:
        return _with_video(exact, data, video_limits)
    pdq, quality = PDQ.compute_image(decoded)
    return _with_image(exact, decoded, pdq, quality, plugins)


def compute_signals_dihedral(
    data: bytes,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    video_limits: VideoLimits | None = None,
) -> tuple[MediaSignals, list[str] | None]:
    """`compute_signals` plus the eight dihedral PDQ hashes (`pdq_dihedral`'s order, the first
    being the plain PDQ) from the same decode, so a matcher finds mirrored and rotated copies at
    the cost of one extra 16x16 coefficient transform. The hashes are None when not an image."""
    _check_size(len(data), max_bytes)
    decoded = decode_image(data, max_pixels=_or(max_pixels, DEFAULT_MAX_PIXELS))
    plugins = _Plugins.now()
    exact = _exact(data, plugins)
    if decoded is None:
        return _with_video(exact, data, video_limits), None
    hashes, quality = pdq_dihedral_from_image(decoded)
    return _with_image(exact, decoded, hashes[0], quality, plugins), hashes


@dataclass(frozen=True)
class _Plugins:
    """The registered types beyond the built-in fields, by what they are computed from (looked
    up for every file: a few microseconds, and a type registered later is computed at once).
    A hashing process has the types registered on import: a plug-in registers in its module."""

    crypto: tuple[CryptoSignalType, ...]
    from_bytes: tuple[BytesSignalType, ...]
    from_image: tuple[ImageSignalType, ...]

    @staticmethod
    def now() -> _Plugins:
        fields = {PDQ.name, VPDQ.name, *(t.name for t in BUILTIN)}
        types = [t for t in signal_types().values() if t.name not in fields]
        crypto = tuple(t for t in types if isinstance(t, CryptoSignalType))
        return _Plugins(
            crypto=(*BUILTIN, *crypto),
            from_bytes=tuple(
                t for t in types if isinstance(t, BytesSignalType) and t not in crypto
            ),
            from_image=tuple(t for t in types if isinstance(t, ImageSignalType)),
        )


def _exact(data: bytes, plugins: _Plugins) -> MediaSignals:
    hashes = exact_hashes(data, plugins.crypto)
    sha256, sha1, md5 = (hashes.pop(t.name) for t in BUILTIN)
    extra = hashes | {t.name: t.compute_bytes(data) for t in plugins.from_bytes}
    return MediaSignals(
        sha256, sha1, md5, size_bytes=len(data), mime_type=sniff_mime(data), extra=extra
    )


def _with_video(exact: MediaSignals, data: bytes, limits: VideoLimits | None) -> MediaSignals:
    """A video's vPDQ beside its exact hashes; anything else unchanged (one set lookup)."""
    if not is_video_mime(exact.mime_type):
        return exact
    from orbweaver.signals.video import hash_video

    video = hash_video(data, limits=limits)
    if not video.features:
        raise SignalError("broken video: no frame decoded")
    return replace(
        exact,
        extra={**exact.extra, VPDQ.name: format_vpdq(video.features)},
        width=video.width,
        height=video.height,
        duration=video.duration,
    )


def _with_image(
    exact: MediaSignals, decoded: DecodedImage, pdq: str, quality: int, plugins: _Plugins
) -> MediaSignals:
    extra = dict(exact.extra)
    for signal_type in plugins.from_image:
        extra[signal_type.name], _ = signal_type.compute_image(decoded)
    return MediaSignals(
        exact.sha256,
        exact.sha1,
        exact.md5,
        size_bytes=exact.size_bytes,
        mime_type=decoded.mime_type,
        pdq=pdq,
        pdq_quality=quality,
        width=decoded.width,
        height=decoded.height,
        extra=extra,
    )


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
    video_limits: VideoLimits | None = None,
    max_video_bytes: int | None = None,
) -> MediaSignals:
    """Read a file (refusing one over `max_bytes` before reading it; a video, over
    `max_video_bytes`) and fingerprint it."""
    limit = _or(max_bytes, DEFAULT_MAX_BYTES)
    if _starts_as_video(Path(path)):
        limit = max(limit, _or(max_video_bytes, DEFAULT_MAX_VIDEO_BYTES))
    data = read_capped(Path(path), limit)
    return compute_signals(data, max_bytes=limit, max_pixels=max_pixels, video_limits=video_limits)


def _starts_as_video(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return is_video_mime(sniff_mime(handle.read(512)))
    except OSError:
        return False  # read_capped says why


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
