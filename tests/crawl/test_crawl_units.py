"""Unit tests that open no socket: extraction, sniffing, archives (the policy: tests/net)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import lxml.html
import py7zr
import pytest
import pyzipper
from loopback import synthetic_png
from rar4 import rar4

from orbweaver.crawl.extract import extract, normalise
from orbweaver.crawl.sniff import sniff
from orbweaver.signals.archives import (
    ArchiveBomb,
    ArchiveLimits,
    ArchivePasswordError,
    unpack,
)


def test_archive_password_in_a_sibling_paragraph_of_the_post() -> None:
    """The simulated onion forum's shape: "Link: …" and "Password: …" in sibling paragraphs of
    one post; another post's password is not offered for this link."""
    page = """<html><body><div class='post'><p>new set, 5 pics</p>
    <p>Link: <a href='http://files.test/dl/k/set-1.zip'>http://files.test/dl/k/set-1.zip</a></p>
    <p>Password: <code>pw-d29902f3</code></p></div>
    <div class='post'><p>Link: <a href='http://files.test/dl/j/set-2.zip'>set 2</a></p>
    <p>Password: <code>pw-other</code></p></div></body></html>"""
    links = extract(lxml.html.fromstring(page), "http://forum.onion/t/1")
    assert dict(links.archives) == {
        "http://files.test/dl/k/set-1.zip": ["pw-d29902f3"],
        "http://files.test/dl/j/set-2.zip": ["pw-other"],
    }


def test_extraction_covers_every_kind_of_link_and_caps_pages() -> None:
    page = """<html><head><meta property="og:image" content="/og.jpg">
    <style>.x{background:url("/css-block.png")}</style></head><body>
    <img src="a.jpg" srcset="b.jpg 1x, c.jpg 2x"><picture><source srcset="d.webp"></picture>
    <video src="v.mp4" poster="p.jpg"></video><div style="background-image:url(e.png)"></div>
    <a href="big.png">x</a><a href="next.html#frag">n</a><a href="javascript:void(0)">j</a>
    <p>grab it <a href="/f/set.zip">set</a> password: <code>s3cret!</code></p>
    <a href="http://bad host/odd.jpg">odd</a><iframe src="/frame"></iframe>
    """
    links = extract(lxml.html.fromstring(page), "http://site.test/dir/")
    names = {u.rsplit("/", 1)[-1] for u in links.media}
    assert {
        "og.jpg",
        "css-block.png",
        "a.jpg",
        "b.jpg",
        "c.jpg",
        "d.webp",
        "v.mp4",
        "p.jpg",
        "e.png",
        "big.png",
    } <= names
    assert "http://site.test/dir/next.html" in links.pages
    assert "http://site.test/frame" in links.pages
    url, passwords = links.archives[0]
    assert url == "http://site.test/f/set.zip" and passwords[0] == "s3cret!"
    many = (
        "<html><body>"
        + "".join(f'<img src="/i/{i}.png">' for i in range(100_000))
        + "</body></html>"
    )
    capped = extract(lxml.html.fromstring(many), "http://site.test/", max_media=5000)
    assert len(capped.media) == 5000 and capped.dropped_media == 95_000


def test_normalise_survives_invalid_utf8() -> None:
    raw = b"/x\xff\xfe.jpg".decode("utf-8", "surrogateescape")
    url = normalise("http://site.test/", raw)
    assert url is not None and url.startswith("http://site.test/x%")
    assert normalise("http://site.test/", "mailto:a@b") is None


def test_sniff_by_bytes() -> None:
    assert sniff(synthetic_png(1))[0] == "media"
    assert sniff(b"PK\x03\x04rest")[0] == "archive"
    assert sniff(b"<!doctype html><p>x")[0] == "page"
    assert sniff(b"\x00\x01binary")[0] == "other"


def test_sniff_knows_every_video_container_the_signals_hash() -> None:
    """Issue 16: MPEG-TS and MOV without `ftyp` were "other" to the crawl (skipped unhashed)."""
    ts = b"".join(b"\x47" + bytes(187) for _ in range(4))
    mov = (16).to_bytes(4, "big") + b"moov" + bytes(8)
    assert sniff(ts) == ("media", "video/mp2t")
    assert sniff(mov) == ("media", "video/quicktime")


def _zip(files: dict[str, bytes], password: str | None = None) -> bytes:
    out = io.BytesIO()
    if password:
        with pyzipper.AESZipFile(
            out, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as zf:
            zf.setpassword(password.encode())
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    return out.getvalue()


def test_zip_aes_7z_and_nesting() -> None:
    a, b = synthetic_png(1), synthetic_png(2)
    assert [m.path for m in unpack(_zip({"a.png": a, "b.png": b})).members] == ["a.png", "b.png"]
    result = unpack(_zip({"a.png": a}, password="pw-1"), passwords=["wrong", "pw-1"])
    assert result.password == "pw-1" and result.members[0].data == a
    with pytest.raises(ArchivePasswordError):
        unpack(_zip({"a.png": a}, password="pw-1"), passwords=["nope"])
    seven = io.BytesIO()
    with py7zr.SevenZipFile(seven, "w", password="pw7") as sz:
        sz.writestr(b, "in/b.png")
    result = unpack(seven.getvalue(), passwords=["x", "pw7"])
    assert result.password == "pw7" and result.members[0].data == b
    nested = _zip({"outer.png": a, "inner.zip": _zip({"deep.png": b})})
    paths = sorted(m.path for m in unpack(nested).members)
    assert paths == ["inner.zip!/deep.png", "outer.png"]
    too_deep = unpack(nested, limits=ArchiveLimits(max_depth=1))
    assert [m.path for m in too_deep.members] == ["outer.png"]
    assert "nested archive deeper" in too_deep.problems[0]


def test_rar_members_and_nesting() -> None:
    a, b = synthetic_png(1), synthetic_png(2)
    result = unpack(rar4({"a.png": a, "in/b.png": b, "inner.zip": _zip({"deep.png": a})}))
    assert result.format == "rar"
    assert {m.path: m.data for m in result.members} == {
        "a.png": a,
        "in/b.png": b,
        "inner.zip!/deep.png": a,
    }


def test_encrypted_rar_is_never_read_as_its_ciphertext() -> None:
    """libarchive returns a stored encrypted member's raw bytes without an error, and unar
    writing to stdout exits 0 with a wrong password: neither may become a member."""
    a = synthetic_png(1)
    locked = rar4({"a.png": a}, password="right-one")
    with pytest.raises(ArchivePasswordError):
        unpack(locked, passwords=["wrong", "also-wrong"])
    with pytest.raises(ArchivePasswordError):
        unpack(locked)


def test_encrypted_rar5_opens_with_the_password_from_the_page_and_only_with_it() -> None:
    """A real RAR 5 archive (made by RARLAB's rar, see tests/data/rar/README.md): compressed,
    encrypted, its checksums MACs keyed by the password. libarchive cannot read it; unar can,
    and a wrong password writes nothing with exit status 0, which must not count as opened."""
    locked = (Path(__file__).parents[1] / "data" / "rar" / "rar5-psw.rar").read_bytes()
    result = unpack(locked, passwords=["wrong", "password"])
    lines = "".join(f"{i:03d}\n" for i in range(512)).encode()
    assert result.password == "password"
    assert {m.path: m.data for m in result.members} == {"stest1.txt": lines, "stest2.txt": lines}
    with pytest.raises(ArchivePasswordError):
        unpack(locked, passwords=["wrong"])


def test_zip_bombs_are_refused() -> None:
    bomb = _zip({"zeros.bin": b"\0" * (50 * 1024 * 1024)})  # ~50 KB on the wire
    with pytest.raises(ArchiveBomb):
        unpack(bomb)
    with pytest.raises(ArchiveBomb, match="members"):
        unpack(_zip({f"{i}.txt": b"x" for i in range(50)}), limits=ArchiveLimits(max_members=10))
    with pytest.raises(ArchiveBomb):  # a directory that lies about sizes still stops at the budget
        unpack(bomb, limits=ArchiveLimits(max_total_bytes=1024 * 1024, ratio_floor_bytes=1))
