"""Hostile pictures, made here from nothing (synthetic gradients and hand-built headers)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from orbweaver.signals import ALLOWED_FORMATS


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], bytes]
    expect: str  # "refused" (SignalError), "not-image" (exact hashes only), "hashed"
    reason: str = ""  # a fragment the error must name


def _gradient(mode: str = "RGB", size: int = 32) -> Image.Image:
    return Image.linear_gradient("L").resize((size, size)).convert(mode)


def _saved(fmt: str, mode: str = "RGB", **kw: object) -> Callable[[], bytes]:
    def make() -> bytes:
        out = io.BytesIO()
        _gradient(mode).save(out, format=fmt, **kw)
        return out.getvalue()

    return make


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, extra: bytes = b"") -> bytes:
    """A PNG whose header declares width × height, over one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", zlib.compress(b"\0" * 1024))
    return b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b"")


def _gif_declaring(width: int, height: int) -> bytes:
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return header + image + b"\x3b"


def _bmp_declaring(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + info + b"\0" * 16


def _tiff_declaring(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (279, 4, 1, 16)]  # fmt: skip
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 24) + b"\0" * 16 + ifd + b"\0\0\0\0"


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 declares width × height (the scan data is junk)."""
    good = io.BytesIO()
    _gradient().save(good, format="JPEG")
    data = good.getvalue()
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def _truncated(fmt: str, keep: float) -> Callable[[], bytes]:
    def make() -> bytes:
        out = io.BytesIO()
        Image.effect_noise((256, 256), 64).convert("RGB").save(out, format=fmt)
        data = out.getvalue()
        return data[: int(len(data) * keep)]

    return make


def _png_bad_crc() -> bytes:
    out = io.BytesIO()
    _gradient().save(out, format="PNG")
    data = bytearray(out.getvalue())
    data[29] ^= 0xFF  # inside IHDR's CRC
    return bytes(data)


def _png_corrupt_zlib() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    idat = b"\x78\x9c" + b"\xde\xad\xbe\xef" * 64
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _jpeg_with_exif(exif: bytes) -> Callable[[], bytes]:
    def make() -> bytes:
        out = io.BytesIO()
        _gradient().save(out, format="JPEG")
        data = out.getvalue()
        app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
        return data[:2] + app1 + data[2:]

    return make


# EXIF whose IFD offsets point far outside the block, loops back on itself, or claims 65535 tags.
EXIF_OUT_OF_RANGE = b"Exif\0\0II*\x00" + struct.pack("<I", 0x7FFFFFF0)
EXIF_LOOP = b"Exif\0\0II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x8769, 4, 1, 8)
EXIF_MANY_TAGS = b"Exif\0\0MM\x00*" + struct.pack(">IH", 8, 0xFFFF) + b"\x01" * 120


def _png_with_exif_chunk() -> bytes:
    return png_declaring(8, 8, _chunk(b"eXIf", b"MM\x00*" + b"\xff" * 64))


def _animated_gif(frames: int) -> Callable[[], bytes]:
    def make() -> bytes:
        out = io.BytesIO()
        first = _gradient("P", 16)
        rest = [Image.new("P", (16, 16), i % 256) for i in range(frames - 1)]
        first.save(out, format="GIF", save_all=True, append_images=rest, duration=1, loop=0)
        return out.getvalue()

    return make


def _apng_claiming_frames(frames: int) -> bytes:
    """An APNG whose acTL claims `frames` frames (it holds one)."""
    return png_declaring(16, 16, _chunk(b"acTL", struct.pack(">II", frames, 0)))


def _animated_webp(frames: int) -> Callable[[], bytes]:
    def make() -> bytes:
        out = io.BytesIO()
        images = [Image.new("RGB", (16, 16), (i % 256, 0, 0)) for i in range(frames)]
        images[0].save(out, format="WEBP", save_all=True, append_images=images[1:], duration=1)
        return out.getvalue()

    return make


def _outside_formats() -> list[Case]:
    """Every Pillow format that can be written here and is outside the decoder's allow-list,
    plus hand-made headers of some that cannot (PSD, FITS, XPM, SVG)."""
    modes = {"XBM": "1", "MSP": "1", "PALM": "1", "SPIDER": "F", "BLP": "RGBA"}
    cases = []
    Image.init()
    skip = {"MPO"}  # written as a plain JPEG, which is allowed
    for fmt in sorted(set(Image.SAVE) - set(ALLOWED_FORMATS) - skip):
        try:
            _saved(fmt, modes.get(fmt, "RGB"))()
        except (OSError, ValueError, KeyError):
            continue  # no encoder in this build (BUFR, GRIB, HDF5, WMF)
        cases.append(Case(f"format-{fmt.lower()}", _saved(fmt, modes.get(fmt, "RGB")), "outside"))
    crafted = {
        "format-psd": b"8BPS\x00\x01" + b"\0" * 6 + struct.pack(">HIIHH", 3, 64, 64, 8, 3),
        "format-fits": b"SIMPLE  =                    T"
        + b" " * 50
        + b"BITPIX  =  8"
        + b" " * 2800,
        "format-xpm": b'/* XPM */\nstatic char *x[] = {\n"2 2 1 1",\n"a c #000000",\n"aa"};\n',
        "format-svg": b'<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>',
    }
    cases += [Case(k, (lambda v=v: v), "outside") for k, v in crafted.items()]
    return cases


CASES: list[Case] = [
    *_outside_formats(),
    Case("bomb-png-13000x13000", lambda: png_declaring(13000, 13000), "refused", "bomb"),
    Case("bomb-png-65535x65535", lambda: png_declaring(65535, 65535), "refused", "bomb"),
    Case("bomb-png-1x100000000", lambda: png_declaring(1, 100_000_000), "refused", "bomb"),
    Case("bomb-gif-65535x65535", lambda: _gif_declaring(65535, 65535), "refused", ""),
    Case("bomb-bmp-30000x30000", lambda: _bmp_declaring(30000, 30000), "refused", ""),
    Case("bomb-tiff-100000x100000", lambda: _tiff_declaring(100000, 100000), "refused", ""),
    Case("bomb-jpeg-65000x65000", lambda: _jpeg_declaring(65000, 65000), "refused", "bomb"),
    Case("zero-size-png", lambda: png_declaring(0, 0), "refused", ""),
    Case("truncated-png-half", _truncated("PNG", 0.5), "refused", "broken"),
    Case("truncated-jpeg-half", _truncated("JPEG", 0.5), "any", ""),
    Case("truncated-gif-header", lambda: b"GIF89a\x10\x00", "refused", "broken"),
    Case("truncated-webp", _truncated("WEBP", 0.3), "refused", "broken"),
    Case("png-bad-crc", _png_bad_crc, "refused", "broken"),
    Case("png-corrupt-zlib", _png_corrupt_zlib, "refused", "broken"),
    Case("jpeg-magic-only", lambda: b"\xff\xd8\xff", "refused", "broken"),
    Case("exif-offset-out-of-range", _jpeg_with_exif(EXIF_OUT_OF_RANGE), "hashed"),
    Case("exif-ifd-loop", _jpeg_with_exif(EXIF_LOOP), "hashed"),
    Case("exif-65535-tags", _jpeg_with_exif(EXIF_MANY_TAGS), "hashed"),
    Case("png-exif-chunk-garbage", _png_with_exif_chunk, "any"),
    Case("animated-gif-2000-frames", _animated_gif(2000), "hashed"),
    Case("apng-claims-2147483647-frames", lambda: _apng_claiming_frames(2**31 - 1), "any"),
    Case("animated-webp-500-frames", _animated_webp(500), "hashed"),
]
