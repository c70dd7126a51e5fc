"""MIME type sniffing from the first bytes of a file, never from its name.

Crawled files arrive with lying extensions and Content-Type headers; the leading bytes ("magic") are
the only thing that says what a file is. The table is small on purpose: it covers the image formats
we decode plus the container formats the crawler meets, so the image/non-image split is decidable.
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
    return None


def is_image_mime(mime: str | None) -> bool:
    """True for a MIME type of the image family."""
    return mime is not None and mime.startswith(IMAGE_MIME_PREFIX)
