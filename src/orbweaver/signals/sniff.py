"""MIME type sniffing from the first bytes of a file, never from its name.

Crawled files arrive with lying extensions and Content-Type headers; the leading bytes ("magic") are
the only thing that says what a file is. The table is small on purpose: it covers the image formats
we decode, the video containers vPDQ hashes, plus the archive formats the crawler meets, so the
image/video/other split is decidable.
"""

from __future__ import annotations

# (offset, magic bytes, mime type). Order matters only where one magic prefixes another.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"%PDF-", "application/pdf"),
)

IMAGE_MIME_PREFIX = "image/"


def sniff_mime(data: bytes) -> str | None:
    """Return the MIME type the leading bytes prove, or None when they prove nothing."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "image/avif"
    for offset, magic, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return sniff_video(data)


_MATROSKA = b"\x1a\x45\xdf\xa3"
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_TS_PACKET = 188
_STILL_BRANDS = (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis")

VIDEO_MIME_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/x-matroska",
        "video/x-msvideo",
        "video/mp2t",
    }
)
"""The video containers vPDQ hashes (MP4, MOV, WebM, Matroska, AVI, MPEG-TS). Animated GIF and
WebP are pictures (hashed on their first frame), never videos."""


def sniff_video(data: bytes) -> str | None:
    """The video container the leading bytes prove, or None (called after the picture magic,
    so an AVIF or HEIC `ftyp` never gets here)."""
    if data[4:8] == b"ftyp":
        if data[8:12] in _STILL_BRANDS:
            return None
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "video/x-msvideo"
    if data[:4] == _MATROSKA:
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if data[4:8] in _QUICKTIME_ATOMS and int.from_bytes(data[:4], "big") >= 8:
        return "video/quicktime"
    if len(data) > 2 * _TS_PACKET and all(data[k * _TS_PACKET] == 0x47 for k in range(3)):
        return "video/mp2t"
    return None


def is_video_mime(mime: str | None) -> bool:
    """True for the video containers vPDQ hashes."""
    return mime in VIDEO_MIME_TYPES


def is_image_mime(mime: str | None) -> bool:
    """True for a MIME type of the image family."""
    return mime is not None and mime.startswith(IMAGE_MIME_PREFIX)
