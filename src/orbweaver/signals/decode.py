"""Decoding untrusted bytes into the small grey picture PDQ needs, fast and with bounded memory.

Conventions follow the reference PDQ implementation, whose hashes other hotlines' lists hold:
- luma is ITU-R 601 (0.299 R + 0.587 G + 0.114 B), what pdqhash computes; a JPEG decoded in `L`
  mode yields exactly that Y channel, so colour conversion is skipped entirely;
- EXIF orientation is NOT applied (the reference hashes the stored pixel grid; so do ThreatExchange
  and HMA), and alpha is dropped rather than composited;
- large pictures are reduced by an integer factor, keeping at least PDQ_MIN_SIDE pixels on their
  shortest side (4 per cell of PDQ's 64×64 grid): JPEGs through the decoder's DCT-domain scaling
  (Pillow `draft`: 1/2, 1/4 or 1/8, which skips most of the inverse DCT work), anything still
  larger through a box reduction. The factor is kept (`DecodedImage.scale`), and `pdq` computes
  the reference's 64×64 grid of the original from the reduced picture (see pdq.py).
Animated GIF/WebP/PNG are hashed on their first frame. Only a short allow-list of raster formats is
ever opened: Pillow would otherwise hand EPS files to Ghostscript.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from orbweaver.signals.errors import SignalError
from orbweaver.signals.sniff import is_image_mime, sniff_mime

PDQ_MIN_SIDE = 256
"""Shortest side a picture keeps when reduced for PDQ: 4 reduced pixels per cell of the 64×64 grid
(on the synthetic and the reference pictures the hashes then stay within 0-8 bits of the full
picture's; at about 1 pixel per cell they drifted by up to 10-33 bits)."""

DEFAULT_MAX_PIXELS = 64_000_000
"""Declared width × height above which a picture is refused as a decompression bomb."""

ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "ICO", "PPM")
"""Pillow plug-ins we let parse untrusted bytes: common raster formats, no interpreters."""

Luma = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class DecodedImage:
    """A picture reduced to what the perceptual hashers need."""

    luma: Luma  # uint8, ceil(height / scale[1]) × ceil(width / scale[0])
    width: int  # declared size of the original
    height: int
    format: str
    mime_type: str | None
    scale: tuple[int, int] = (1, 1)  # each luma pixel stands for that block (x, y) of the original


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = PDQ_MIN_SIDE,
) -> DecodedImage | None:
    """Decode `data` for hashing; None when it is not an image at all, SignalError when broken."""
    im = _open(data)
    if im is None:
        return None
    width, height = im.size
    _check_dimensions(width, height, max_pixels)
    if im.format in ("JPEG", "MPO"):
        _draft(im, min_side)
    try:
        im.load()
        luma_im = to_luma_image(im)
    except SignalError:
        raise
    except Exception as exc:  # Pillow raises many types on hostile input
        raise SignalError(f"broken image: {_describe(exc)}") from exc
    scale = _draft_scale(width, height, luma_im.size)
    luma_im, (factor_x, factor_y) = _reduce(luma_im, min_side)
    mime = im.get_format_mimetype() if hasattr(im, "get_format_mimetype") else None
    return DecodedImage(
        luma=np.asarray(luma_im, dtype=np.uint8),
        width=width,
        height=height,
        format=str(im.format),
        mime_type=mime or sniff_mime(data),
        scale=(scale * factor_x, scale * factor_y),
    )


@dataclass(frozen=True)
class ImageHeader:
    """What a picture's header declares, read without decoding a pixel."""

    format: str
    width: int
    height: int


def probe_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader | None:
    """Read only the header, through the allow-listed plug-ins: None when the bytes are no
    picture we open (EPS, PDF, SVG, video...), SignalError when the header is broken or declares
    more than `max_pixels`. What the crawler refuses, nobody else should decode either."""
    im = _open(data)
    if im is None:
        return None
    with im:
        width, height = im.size
        _check_dimensions(width, height, max_pixels)
        return ImageHeader(str(im.format), width, height)


def _open(data: bytes) -> Image.Image | None:
    """Parse the header only; decide between image, broken image and not-an-image."""
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise SignalError(f"decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        mime = sniff_mime(data)
        if is_image_mime(mime):
            raise SignalError(f"broken image: unreadable {mime} header") from exc
        return None
    except Exception as exc:
        raise SignalError(f"broken image: {_describe(exc)}") from exc


def _check_dimensions(width: int, height: int, max_pixels: int) -> None:
    """Refuse before decoding: the header's claim alone decides how much memory decoding takes."""
    if width <= 0 or height <= 0:
        raise SignalError(f"broken image: declared size {width}x{height}")
    if width * height > max_pixels:
        raise SignalError(f"decompression bomb: {width}x{height} exceeds {max_pixels} pixels")


def _draft(im: Image.Image, min_side: int) -> None:
    """Ask libjpeg for the largest DCT scale-down (1/2, 1/4, 1/8) whose shortest side keeps
    `min_side` pixels.

    `L` mode makes libjpeg skip the chroma upsampling and colour conversion too.
    """
    width, height = im.size
    scale = 1
    while scale < 8 and math.ceil(min(width, height) / (2 * scale)) >= min_side:
        scale *= 2
    im.draft("L", (math.ceil(width / scale), math.ceil(height / scale)))


def _draft_scale(width: int, height: int, size: tuple[int, int]) -> int:
    """The factor by which the decoder scaled the picture down (1 when it did not)."""
    if size == (width, height):
        return 1
    for scale in (2, 4, 8):
        if size == (math.ceil(width / scale), math.ceil(height / scale)):
            return scale
    raise SignalError(f"broken image: decoded as {size[0]}x{size[1]}, declared {width}x{height}")


def _reduce(im: Image.Image, min_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """Box-reduce each axis by the largest integer factor that keeps `min_side` pixels along it;
    returns the picture and the factors (x, y). Each output pixel is the mean of its block (a
    partial one at the right and bottom edges), as pdq_grid assumes. Bounds the work and memory
    of what follows, whatever the picture's shape."""
    factors = (max(1, im.size[0] // min_side), max(1, im.size[1] // min_side))
    if factors == (1, 1):
        return im, factors
    return im.reduce(factors), factors


def to_luma_image(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit luma (`L`), keeping the picture's tonal range.

    Integer and float modes (16-bit greyscale, `I`, `F`) are rescaled rather than clipped: a
    16-bit picture clipped at 255 would be almost white and hash as noise.
    """
    mode = im.mode
    if mode == "L":
        return im
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_numeric_to_uint8(np.asarray(im)))
    if mode in ("1", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "P"):
        return im.convert("L")
    if mode == "PA":
        return im.convert("RGBA").convert("L")
    return im.convert("RGB").convert("L")  # CMYK, YCbCr, LAB, HSV, ...


def _numeric_to_uint8(values: npt.NDArray[np.generic]) -> Luma:
    """Map 16/32-bit integer or float samples to 0..255.

    0..255 data stays as is, 0..65535 data is divided by 257 (what 16-bit to 8-bit means), float
    data in 0..1 is multiplied by 255, and anything else is stretched linearly from its minimum to
    its maximum.
    """
    a = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if values.dtype.kind == "u" and values.dtype.itemsize == 2:
        a = a / 257.0
    elif values.dtype.kind == "f" and low >= 0 and high <= 1.0:
        a = a * 255.0
    elif low >= 0 and high <= 255:
        pass
    elif low >= 0 and high <= 65535 and values.dtype.kind in "iu":
        a = a / 257.0
    elif high > low:
        a = (a - low) * (255.0 / (high - low))
    else:
        a = np.zeros_like(a)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _describe(exc: BaseException) -> str:
    """A one-line reason from a decoder exception (some carry no message)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


@dataclass(frozen=True)
class DecodeCost:
    """What decoding a picture will materialise, read from its header alone."""

    width: int
    height: int
    format: str
    decoded_pixels: int  # after the decoder's own scale-down (JPEG draft); width × height else


def decode_cost(data: bytes, *, min_side: int = PDQ_MIN_SIDE) -> DecodeCost | None:
    """The decode's size before decoding (None when the header is not an allowed picture), so
    a server can refuse, queue or charge by the pixels a request will really cost: a 182 KiB
    PNG can declare 64 megapixels, a 5 MiB JPEG decodes at 1/8 scale."""
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Exception:  # not a picture, or a header decode_image will refuse with its reason
        return None
    width, height = im.size
    pixels = width * height
    if im.format in ("JPEG", "MPO"):
        scale = 1
        while scale < 8 and math.ceil(min(width, height) / (2 * scale)) >= min_side:
            scale *= 2
        pixels = math.ceil(width / scale) * math.ceil(height / scale)
    return DecodeCost(width, height, str(im.format), pixels)
