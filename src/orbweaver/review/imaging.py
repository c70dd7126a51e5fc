"""What the browser receives of a suspect image: blurred and greyscale unless revealed.

The softening happens here, server-side, so the clear picture never reaches the analyst's
screen (or cache) before they choose to see it. Both variants are re-encoded, which also strips
metadata the file may carry.
"""

from __future__ import annotations

import io

from PIL import Image, ImageFilter, UnidentifiedImageError

MAX_SIDE = 1024


class NotAnImage(ValueError):
    """The bytes are not a still image Pillow can decode (e.g. a video)."""


def render(data: bytes, *, blur: bool, greyscale: bool) -> bytes:
    """PNG of the image scaled to at most MAX_SIDE, optionally blurred and greyscale."""
    try:
        source = Image.open(io.BytesIO(data))
        source.draft("RGB", (MAX_SIDE, MAX_SIDE))
        source.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise NotAnImage(str(exc)) from exc
    source.thumbnail((MAX_SIDE, MAX_SIDE))
    image: Image.Image = source.convert("L" if greyscale else "RGB")
    if blur:
        # Strong enough that shapes stay readable but no detail does.
        radius = max(8, max(image.size) // 16)
        image = image.filter(ImageFilter.GaussianBlur(radius))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def is_video(mime_type: str | None) -> bool:
    return bool(mime_type and mime_type.startswith("video/"))
