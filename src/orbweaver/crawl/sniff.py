"""What a fetched resource is, from its first bytes, never from its extension or Content-Type."""

from __future__ import annotations

from orbweaver.signals import is_video_mime, sniff_mime

_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
)
_ARCHIVE_MAGIC = (
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
)


def sniff(data: bytes) -> tuple[str, str]:
    """(kind, mime) with kind one of `media`, `archive`, `page`, `other`."""
    head = data[:64]
    for magic, mime in _ARCHIVE_MAGIC:
        if head.startswith(magic):
            return "archive", mime
    for magic, mime in _IMAGE_MAGIC:
        if head.startswith(magic):
            return "media", mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "media", "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "media", "video/x-msvideo"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "media", "image/avif"
        if brand in (b"heic", b"heix", b"mif1"):
            return "media", "image/heic"
        return "media", "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "media", "video/webm"
    # every other container vPDQ hashes (MOV without `ftyp`, MPEG-TS): the signals' sniffing.
    # A live MPEG-TS stream was skipped as "neither page, media nor archive" before (issue 16).
    video = sniff_mime(data[:1024])
    if is_video_mime(video):
        return "media", str(video)
    if _looks_like_markup(data[:2048]):
        return "page", "text/html"
    return "other", "application/octet-stream"


def _looks_like_markup(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<")) or (
        b"<a " in text or b"<img" in text or b"<div" in text or b"<p>" in text
    )
