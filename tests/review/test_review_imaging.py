"""The console renders suspect bytes only through the crawler's decoder allow-list, under its
pixel limit, in a child process with its resources limited (issue 14, item 1)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from orbweaver.review import imaging
from orbweaver.review.imaging import RenderLimits, RenderRefused, placeholder, render

EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    b"newpath 0 0 moveto 10 10 lineto stroke showpage\n%%EOF\n"
)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width × height, with one tiny compressed IDAT: the bomb of the
    issue (13000×13000 in a few hundred bytes) without ever holding its pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def small_png() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(out, format="PNG")
    return out.getvalue()


class Spy:
    """Records calls; fails the test's expectations by being called at all."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise AssertionError("must not be called")


def test_an_eps_suspect_gets_the_placeholder_and_never_reaches_the_eps_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import EpsImagePlugin

    opened, accepted, child = Spy(), Spy(), Spy()
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", opened)
    monkeypatch.setattr(EpsImagePlugin, "_accept", accepted)
    monkeypatch.setitem(Image.OPEN, "EPS", (EpsImagePlugin.EpsImageFile, accepted))
    monkeypatch.setattr(imaging, "_in_child", child)
    assert render(EPS, blur=True, greyscale=True) == placeholder()
    with pytest.raises(RenderRefused, match="not a picture in an allowed format"):
        imaging.render_or_refuse(EPS, blur=False, greyscale=False)
    assert (opened.calls, accepted.calls, child.calls) == (0, 0, 0)


def test_a_13000_square_png_is_refused_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    bomb = png_header_only(13000, 13000)
    assert len(bomb) < 2000
    load, child = Spy(), Spy()
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    monkeypatch.setattr(imaging, "_in_child", child)
    with pytest.raises(RenderRefused, match="decompression bomb: 13000x13000"):
        imaging.render_or_refuse(bomb, blur=True, greyscale=True)
    assert render(bomb, blur=True, greyscale=True) == placeholder()
    assert (load.calls, child.calls) == (0, 0)


def test_an_allowed_picture_renders_in_the_child_blurred_and_clear() -> None:
    data = small_png()
    soft = Image.open(io.BytesIO(render(data, blur=True, greyscale=True)))
    clear = Image.open(io.BytesIO(render(data, blur=False, greyscale=False)))
    assert (soft.mode, soft.size) == ("L", (256, 256))
    assert (clear.mode, clear.size) == ("RGB", (256, 256))
    assert render(data, blur=False, greyscale=False) != placeholder()


def test_the_child_runs_out_of_memory_not_the_server() -> None:
    """A picture within the pixel limit but over the child's memory gets the placeholder; the
    server process is unaffected."""
    out = io.BytesIO()
    Image.new("RGB", (4000, 4000), (10, 20, 30)).save(out, format="PNG")
    tight = RenderLimits(memory_bytes=96 * 1024 * 1024)
    with pytest.raises(RenderRefused):
        imaging.render_or_refuse(out.getvalue(), blur=False, greyscale=False, limits=tight)
    assert render(small_png(), blur=False, greyscale=False) != placeholder()


def test_the_child_has_no_network_and_no_subprocess(tmp_path: Path) -> None:
    """What a decoder that wanted Ghostscript or a socket would meet inside the worker."""
    import subprocess
    import sys

    probe = (
        "import json,sys;from orbweaver.review import render_worker as w;"
        "w._limit(512*1024*1024, 5);sys.addaudithook(w._audit);import socket,subprocess\n"
        "for f in (lambda: socket.socket(), lambda: subprocess.run(['true'])):\n"
        "    try: f(); print('allowed')\n"
        "    except PermissionError as e: print('refused', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60)
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 2 and all(line.startswith("refused") for line in lines), done
