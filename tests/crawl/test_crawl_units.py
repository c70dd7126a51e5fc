"""Unit tests that open no socket: extraction, sniffing, archives (the policy: tests/net)."""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
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
    ArchiveError,
    ArchiveLimits,
    ArchivePasswordError,
    ToolTimeout,
    run_bounded,
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


# --- the archive limits at their exact boundaries (issue 21, mutation testing) ----------------

MIB = 1024 * 1024


def _members(result: object) -> dict[str, bytes]:
    return {m.path: m.data for m in result.members}  # type: ignore[attr-defined]


def test_archive_limit_defaults() -> None:
    """The documented defaults: a change to any of them is a change to the crawl's safety."""
    assert ArchiveLimits() == ArchiveLimits(
        max_members=10_000,
        max_member_bytes=64 * MIB,
        max_total_bytes=512 * MIB,
        max_ratio=100.0,
        ratio_floor_bytes=4 * MIB,
        max_depth=3,
        max_password_tries=8,
        tool_timeout_s=60.0,
    )


def test_archive_budget_is_the_ratio_between_the_floor_and_the_cap() -> None:
    limits = ArchiveLimits()
    assert limits.budget(0) == 4 * MIB
    assert limits.budget(41_943) == 4 * MIB  # 4,194,300 is under the floor
    assert limits.budget(41_944) == 4_194_400
    assert limits.budget(5_368_709) == 536_870_900
    assert limits.budget(5_368_710) == 512 * MIB  # 536,871,000 is over the cap
    assert ArchiveLimits(max_ratio=2.5, ratio_floor_bytes=1).budget(3) == 7  # int(7.5)


def test_member_count_limit_is_inclusive_and_counts_files_only() -> None:
    ten = {f"{i}.txt": b"x" for i in range(10)}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("folder/", b"")  # a directory entry is no member
        for name, data in ten.items():
            zf.writestr(name, data)
    assert _members(unpack(out.getvalue(), limits=ArchiveLimits(max_members=10))) == ten
    with pytest.raises(ArchiveBomb, match=r"^11 members, over the limit of 10$"):
        unpack(_zip({**ten, "10.txt": b"x"}), limits=ArchiveLimits(max_members=10))


def test_default_member_count_limit_is_ten_thousand() -> None:
    def stored(count: int) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for i in range(count):
                zf.writestr(str(i), b"")
        return out.getvalue()

    with pytest.raises(ArchiveBomb, match="10,001 members, over the limit of 10,000"):
        unpack(stored(10_001))
    assert len(unpack(stored(10_000)).members) == 10_000


def test_total_budget_is_inclusive_over_all_members() -> None:
    limits = ArchiveLimits(max_total_bytes=1000, ratio_floor_bytes=10**9)
    exact = unpack(_zip({"a": b"a" * 600, "b": b"b" * 400}), limits=limits)
    assert [len(m.data) for m in exact.members] == [600, 400]
    with pytest.raises(ArchiveBomb, match=r"^declares 1,001 bytes uncompressed, over the budget$"):
        unpack(_zip({"a": b"a" * 600, "b": b"b" * 401}), limits=limits)


def test_member_size_limit_is_inclusive_in_every_format() -> None:
    limits = ArchiveLimits(max_member_bytes=1000)
    assert _members(unpack(_zip({"a": b"a" * 1000}), limits=limits)) == {"a": b"a" * 1000}
    with pytest.raises(ArchiveBomb, match=r"^member 'a' inflates past 1,000 bytes$"):
        unpack(_zip({"a": b"a" * 1001}), limits=limits)
    assert _members(unpack(rar4({"a": b"a" * 1000}), limits=limits)) == {"a": b"a" * 1000}
    with pytest.raises(ArchiveBomb, match="inflates past the budget"):
        unpack(rar4({"a": b"a" * 1001}), limits=limits)

    def seven(data: bytes) -> bytes:
        out = io.BytesIO()
        with py7zr.SevenZipFile(out, "w") as sz:
            sz.writestr(data, "a")
        return out.getvalue()

    assert _members(unpack(seven(b"a" * 1000), limits=limits)) == {"a": b"a" * 1000}
    with pytest.raises(ArchiveBomb, match="inflates past the budget"):
        unpack(seven(b"a" * 1001), limits=limits)


def test_default_member_size_limit_is_64_mib() -> None:
    """Padding (random, stored) lifts the ratio budget above 64 MiB so the member cap decides."""
    import random

    padding = random.Random(7).randbytes(700_000)  # x100 = 70 MB of ratio budget
    for size, ok in ((64 * MIB, True), (64 * MIB + 1, False)):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("pad.bin", padding)  # stored
            zf.writestr(zipfile.ZipInfo("zeros.bin"), b"\0" * size, zipfile.ZIP_DEFLATED)
        if ok:
            assert len(_members(unpack(out.getvalue()))["zeros.bin"]) == size
        else:
            with pytest.raises(ArchiveBomb, match="inflates past 67,108,864 bytes"):
                unpack(out.getvalue())


def test_nested_archives_share_one_budget() -> None:
    """The nested archive's bytes and its members both count against the one budget."""
    inner = _zip({"deep": b"d" * 600})
    outer = _zip({"inner.zip": inner})
    room = len(inner) + 600
    fits = ArchiveLimits(max_total_bytes=room, ratio_floor_bytes=10**9)
    assert _members(unpack(outer, limits=fits)) == {"inner.zip!/deep": b"d" * 600}
    short = ArchiveLimits(max_total_bytes=room - 1, ratio_floor_bytes=10**9)
    with pytest.raises(ArchiveBomb, match="declares 600 bytes"):
        unpack(outer, limits=short)


def test_nesting_is_followed_three_levels_deep_and_no_further() -> None:
    level3 = _zip({"c.png": b"3"})
    level2 = _zip({"l3.zip": level3, "b.png": b"2"})  # members after the skipped one count
    level1 = _zip({"a.png": b"1", "l2.zip": level2})
    three = unpack(level1)
    assert _members(three) == {"a.png": b"1", "l2.zip!/b.png": b"2", "l2.zip!/l3.zip!/c.png": b"3"}
    assert three.problems == []
    four = unpack(_zip({"top.png": b"0", "l1.zip": level1}))
    assert _members(four) == {"top.png": b"0", "l1.zip!/a.png": b"1", "l1.zip!/l2.zip!/b.png": b"2"}
    assert four.problems == ["l1.zip!/l2.zip!/l3.zip: nested archive deeper than 3 levels, skipped"]


def test_a_bomb_in_a_nested_archive_stops_it_all_a_corrupt_one_is_a_problem() -> None:
    limits = ArchiveLimits(max_member_bytes=1500)
    bomb = _zip({"ok.png": b"1", "inner.zip": _zip({"x": b"a" * 1501})})
    with pytest.raises(ArchiveBomb):
        unpack(bomb, limits=limits)
    corrupt = unpack(_zip({"ok.png": b"1", "inner.zip": b"PK\x03\x04 not really"}))
    assert _members(corrupt) == {"ok.png": b"1"}
    assert len(corrupt.problems) == 1 and corrupt.problems[0].startswith("inner.zip: corrupt zip")


def test_at_most_eight_distinct_passwords_are_tried() -> None:
    locked = _zip({"a.png": b"x" * 10}, password="right")
    wrong = [f"wrong-{i}" for i in range(7)]
    assert unpack(locked, passwords=[*wrong, "right"]).password == "right"
    with pytest.raises(ArchivePasswordError, match="none of 8 password"):
        unpack(locked, passwords=[*wrong, "wrong-7", "right"])
    # blanks and repeats are no tries
    repeated = ["", *wrong, wrong[0], "", wrong[3], "right"]
    assert unpack(locked, passwords=repeated).password == "right"
    with pytest.raises(ArchivePasswordError, match="none of 0 password"):
        unpack(locked, passwords=["", ""])


def test_a_zip_with_plain_and_encrypted_members_reads_both() -> None:
    out = io.BytesIO()
    with pyzipper.AESZipFile(out, "w") as zf:
        zf.writestr("plain.png", b"P" * 20)
        zf.setpassword(b"pw")
        zf.setencryption(pyzipper.WZ_AES)
        zf.writestr("locked.png", b"L" * 50)
    result = unpack(out.getvalue(), passwords=["nope", "pw"])
    assert result.password == "pw"
    assert _members(result) == {"locked.png": b"L" * 50, "plain.png": b"P" * 20}
    plain = unpack(_zip({"a.png": b"a"}), passwords=["pw"])
    assert plain.password is None and plain.format == "zip"


def test_a_7z_with_encrypted_headers_and_rar_member_count() -> None:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password="pw7", header_encryption=True) as sz:
        sz.writestr(b"secret", "s.txt")
    result = unpack(out.getvalue(), passwords=["x", "pw7"])
    assert (result.format, result.password, _members(result)) == ("7z", "pw7", {"s.txt": b"secret"})
    with pytest.raises(ArchivePasswordError):
        unpack(out.getvalue(), passwords=["x"])
    two = rar4({"a": b"1", "b": b"2"})
    assert _members(unpack(two, limits=ArchiveLimits(max_members=2))) == {"a": b"1", "b": b"2"}
    with pytest.raises(ArchiveBomb, match=r"^more than 2 members$"):
        unpack(rar4({"a": b"1", "b": b"2", "c": b"3"}), limits=ArchiveLimits(max_members=2))


# --- the unar path (what libarchive cannot open), with stand-in tools ------------------------

NOT_FOR_LIBARCHIVE = b"Rar!\x1a\x07\x00" + b"\xff" * 64  # libarchive refuses it: unar's turn


def _entry(index: int, name: str, data: bytes, **extra: object) -> dict[str, object]:
    return {
        "XADIndex": index,
        "XADFileName": name,
        "XADFileSize": len(data),
        "RARCRC32": zlib.crc32(data),
        **extra,
    }


def _stand_ins(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entries: list[dict[str, object]],
    unar: str,
    header_password: str | None = None,
) -> Path:
    """`lsar` printing `entries` (only with `-p header_password` when given), `unar` running the
    shell code `unar` (its arguments in "$*"); every call is logged to calls.log."""
    folder = tmp_path / "bin"
    folder.mkdir()
    listing = tmp_path / "listing.json"
    listing.write_text(json.dumps({"lsarFormatVersion": 2, "lsarContents": entries}))
    log = tmp_path / "calls.log"
    lsar = f'echo "lsar $*" >> {log}\n'
    if header_password is None:
        lsar += f"cat {listing}\n"
    else:
        lsar += f'case "$*" in *"-p {header_password} "*) cat {listing};; '
        lsar += "*) echo '{\"lsarError\": 1}';; esac\n"
    for name, body in (("lsar", lsar), ("unar", f'echo "unar $*" >> {log}\n' + unar)):
        (folder / name).write_text("#!/bin/sh\n" + body)
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return log


def test_unar_members_are_cut_by_the_listed_sizes_and_checked_by_crc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [
        _entry(0, "a.png", b"abc"),
        {"XADIndex": 1, "XADFileName": "folder", "XADIsDirectory": 1},
        _entry(1, "b.png", b"defgh"),
        _entry(2, "c.png", b"ij", RARCRC32=zlib.crc32(b"xx")),
        _entry(3, "d.png", b"k"),
    ]
    _stand_ins(tmp_path, monkeypatch, entries, "printf abcdefghijk\n")
    result = unpack(NOT_FOR_LIBARCHIVE)
    assert (result.format, result.password) == ("rar", None)
    assert _members(result) == {"a.png": b"abc", "b.png": b"defgh", "d.png": b"k"}
    assert result.problems == ["c.png: corrupt (CRC mismatch), skipped"]
    short = unpack(NOT_FOR_LIBARCHIVE, limits=ArchiveLimits(max_members=4))
    assert len(short.members) == 3
    with pytest.raises(ArchiveBomb, match=r"^4 members, over the limit of 3$"):
        unpack(NOT_FOR_LIBARCHIVE, limits=ArchiveLimits(max_members=3))
    budget = ArchiveLimits(max_total_bytes=11, ratio_floor_bytes=10**9)
    assert len(unpack(NOT_FOR_LIBARCHIVE, limits=budget).members) == 3
    with pytest.raises(ArchiveBomb, match=r"^declares 11 bytes uncompressed, over the budget$"):
        unpack(NOT_FOR_LIBARCHIVE, limits=ArchiveLimits(max_total_bytes=10, ratio_floor_bytes=1))


def test_unar_output_shorter_than_listed_is_corrupt_and_a_failed_run_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [_entry(0, "a.png", b"abc"), _entry(1, "b.png", b"defgh")]
    _stand_ins(tmp_path, monkeypatch, entries, "printf abcde\n")
    result = unpack(NOT_FOR_LIBARCHIVE)
    assert _members(result) == {"a.png": b"abc"}
    assert result.problems == ["b.png: corrupt (CRC mismatch), skipped"]
    (tmp_path / "bin" / "unar").write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    with pytest.raises(ArchiveError, match=r"^unar ended with status 3: b'boom\\n'$"):
        unpack(NOT_FOR_LIBARCHIVE)
    # only the last 200 bytes of stderr go into the message
    (tmp_path / "bin" / "unar").write_text("#!/bin/sh\nprintf X%0300d 0 >&2\nexit 3\n")
    with pytest.raises(ArchiveError) as failed:
        unpack(NOT_FOR_LIBARCHIVE)
    assert str(failed.value) == f"unar ended with status 3: {b'0' * 200!r}"
    (tmp_path / "bin" / "unar").write_text("#!/bin/sh\nprintf abcdefgh\nexit 1\n")
    assert len(unpack(NOT_FOR_LIBARCHIVE).members) == 2  # a status with output: cut as usual


def test_unar_tries_each_password_on_the_smallest_encrypted_member_then_extracts_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [
        _entry(0, "big.png", b"B" * 9, XADIsEncrypted=1),
        _entry(1, "small.png", b"s", XADIsEncrypted=1),
        _entry(2, "plain.png", b"p"),
    ]
    unar = (
        'case "$*" in\n'
        '  *"-i -p right "*) printf s;;\n'
        '  *"-p right "*) printf BBBBBBBBBsp;;\n'
        "  *) printf '';;\n"
        "esac\n"
    )
    log = _stand_ins(tmp_path, monkeypatch, entries, unar)
    result = unpack(NOT_FOR_LIBARCHIVE, passwords=["wrong", "right", "later"])
    assert result.password == "right"
    assert _members(result) == {"big.png": b"B" * 9, "small.png": b"s", "plain.png": b"p"}
    calls = log.read_text().splitlines()
    assert calls[0].startswith("lsar -j /proc/self/fd/")  # listed once, without a password
    probes = [c for c in calls if " -i " in c]
    assert [c.split(" -p ")[1].split()[0] for c in probes] == ["wrong", "right"]
    assert all(c.endswith(" 1") for c in probes)  # the smallest encrypted member, by index
    assert len([c for c in calls if c.startswith("unar") and " -i " not in c]) == 1
    with pytest.raises(ArchivePasswordError, match="none of 2 password"):
        unpack(NOT_FOR_LIBARCHIVE, passwords=["wrong", "also-wrong"])
    with pytest.raises(ArchiveBomb):  # the probe is bounded by the member limit
        unpack(NOT_FOR_LIBARCHIVE, passwords=["right"], limits=ArchiveLimits(max_member_bytes=0))


def test_unar_a_member_that_does_not_decrypt_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [
        _entry(0, "a.png", b"a", XADIsEncrypted=1),
        _entry(1, "b.png", b"bb", XADIsEncrypted=1),
        _entry(2, "c.png", b"cc", XADIsEncrypted=1),
    ]
    unar = 'case "$*" in *" -i "*) printf a;; *) printf axxcc;; esac\n'
    _stand_ins(tmp_path, monkeypatch, entries, unar)
    result = unpack(NOT_FOR_LIBARCHIVE, passwords=["pw"])
    assert _members(result) == {"a.png": b"a", "c.png": b"cc"}
    assert result.problems == ["b.png: member 'b.png' does not decrypt with this password, skipped"]


def test_unar_encrypted_headers_are_listed_with_up_to_eight_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [_entry(0, "a.png", b"abc", XADIsEncrypted=1)]
    log = _stand_ins(tmp_path, monkeypatch, entries, "printf abc\n", header_password="right")
    wrong = [f"w{i}" for i in range(7)]
    result = unpack(NOT_FOR_LIBARCHIVE, passwords=[*wrong, "right"])
    assert result.password == "right" and _members(result) == {"a.png": b"abc"}
    calls = log.read_text().splitlines()
    assert len([c for c in calls if c.startswith("lsar")]) == 9  # none, then the eight
    assert not [c for c in calls if " -i " in c]  # the header password needs no probe
    with pytest.raises(ArchivePasswordError, match=r"none of 8 password\(s\)"):
        unpack(NOT_FOR_LIBARCHIVE, passwords=[*wrong, "w7", "right"])
    (tmp_path / "bin" / "lsar").write_text("#!/bin/sh\necho 'not json' >&2\n")
    with pytest.raises(ArchiveError, match="lsar could not list the archive: b'not json"):
        unpack(NOT_FOR_LIBARCHIVE)


def test_the_listing_is_bounded_by_the_member_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 KiB an entry and 16 spare: the listing of one member may take 4096 * 17 bytes."""
    entries = [_entry(0, "a.png", b"abc")]
    _stand_ins(tmp_path, monkeypatch, entries, "printf abc\n")
    listing = tmp_path / "listing.json"
    text = json.dumps({"lsarContents": entries, "pad": ""})
    listing.write_text(text.replace('"pad": ""', '"pad": "' + "x" * (4096 * 17 - len(text)) + '"'))
    assert len(listing.read_bytes()) == 4096 * 17
    assert len(unpack(NOT_FOR_LIBARCHIVE, limits=ArchiveLimits(max_members=1)).members) == 1
    listing.write_text(
        text.replace('"pad": ""', '"pad": "' + "x" * (4096 * 17 + 1 - len(text)) + '"')
    )
    with pytest.raises(ArchiveBomb, match="lsar output inflates past 69,632 bytes"):
        unpack(NOT_FOR_LIBARCHIVE, limits=ArchiveLimits(max_members=1))


def test_run_bounded_limits_output_keeps_the_stderr_tail_and_times_out() -> None:
    import tracemalloc

    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        out, err, code = run_bounded(
            ["sh", "-c", "printf 0123456789; exit 4"], fd, limit=10, timeout=30
        )
        assert (out, err, code) == (b"0123456789", b"", 4)
        with pytest.raises(ArchiveBomb, match=r"^sh output inflates past 9 bytes$"):
            run_bounded(["sh", "-c", "printf 0123456789"], fd, limit=9, timeout=30)
        flood = "head -c 4000000 /dev/zero >&2; printf TAIL >&2"
        tracemalloc.start()
        try:
            _out, err, code = run_bounded(["sh", "-c", flood], fd, limit=0, timeout=60)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert code == 0 and len(err) == 4096 and err.endswith(b"\0TAIL")
        assert peak < 1 << 20  # stderr kept to its tail as it arrives, not held whole
        with pytest.raises(ToolTimeout, match=r"^sh ran over 0.5 s, killed$"):
            run_bounded(["sh", "-c", "sleep 30"], fd, limit=10, timeout=0.5)
        # both pipes closed, the process still running: the wait runs out
        quiet = ["sh", "-c", "exec >&- 2>&-; sleep 30"]
        with pytest.raises(ToolTimeout, match=r"^sh ran over 0.5 s, killed$"):
            run_bounded(quiet, fd, limit=10, timeout=0.5)
    finally:
        os.close(fd)


def test_real_unar_applies_the_limits_to_a_rar5(tmp_path: Path) -> None:
    locked = (Path(__file__).parents[1] / "data" / "rar" / "rar5-psw.rar").read_bytes()
    lines = "".join(f"{i:03d}\n" for i in range(512)).encode()  # 2048 bytes, twice
    fits = ArchiveLimits(max_members=2, max_total_bytes=4096, ratio_floor_bytes=10**9)
    assert len(unpack(locked, passwords=["password"], limits=fits).members) == 2
    with pytest.raises(ArchiveBomb, match="2 members, over the limit of 1"):
        unpack(locked, passwords=["password"], limits=ArchiveLimits(max_members=1))
    with pytest.raises(ArchiveBomb, match="declares 4,096 bytes"):
        unpack(locked, passwords=["password"], limits=ArchiveLimits(max_total_bytes=4095))
    exact = ArchiveLimits(max_member_bytes=2048)
    assert _members(unpack(locked, passwords=["password"], limits=exact))["stest1.txt"] == lines
    with pytest.raises(ArchiveBomb):
        unpack(locked, passwords=["password"], limits=ArchiveLimits(max_member_bytes=2047))


def test_unar_without_lsar_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_ins(tmp_path, monkeypatch, [_entry(0, "a.png", b"abc")], "printf abc\n")
    for tool in ("unar", "lsar"):
        alone = tmp_path / f"only-{tool}"
        alone.mkdir()
        (tmp_path / "bin" / tool).rename(alone / tool)
        monkeypatch.setenv("PATH", str(alone))
        with pytest.raises(ArchiveError, match=r"\(and unar is not installed\)$"):
            unpack(NOT_FOR_LIBARCHIVE)
        (alone / tool).rename(tmp_path / "bin" / tool)


def test_unar_members_count_against_the_member_cap_and_unsized_ones_are_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """unar's one run is bounded by the listed sizes only, so each member's size is checked
    against the member cap as it is taken (inclusive)."""
    entries = [
        {"XADIndex": 0, "XADFileName": "unsized", "RARCRC32": 0},
        _entry(1, "a.png", b"abcd"),
        _entry(2, "b.png", b"e"),
    ]
    _stand_ins(tmp_path, monkeypatch, entries, "printf abcde\n")
    exact = unpack(NOT_FOR_LIBARCHIVE, limits=ArchiveLimits(max_member_bytes=4))
    assert _members(exact) == {"unsized": b"", "a.png": b"abcd", "b.png": b"e"}
    with pytest.raises(ArchiveBomb, match=r"^member 'a.png' over 3 bytes$"):
        unpack(NOT_FOR_LIBARCHIVE, limits=ArchiveLimits(max_member_bytes=3))
    with pytest.raises(ArchiveBomb, match=r"^declares 5 bytes uncompressed, over the budget$"):
        unpack(NOT_FOR_LIBARCHIVE, limits=ArchiveLimits(max_total_bytes=4, ratio_floor_bytes=1))
    # unar's output is capped at the listed sizes, an unsized entry counting none
    (tmp_path / "bin" / "unar").write_text("#!/bin/sh\nprintf abcdeX\n")
    with pytest.raises(ArchiveBomb, match=r"^unar output inflates past 5 bytes$"):
        unpack(NOT_FOR_LIBARCHIVE)


def test_a_7z_declaring_more_than_the_budget_is_refused_from_its_directory() -> None:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as sz:
        sz.writestr(b"a" * 600, "a")
        sz.writestr(b"b" * 401, "b")
        sz.writestr(b"", "empty")  # declares 0 bytes
    limits = ArchiveLimits(max_total_bytes=1000, ratio_floor_bytes=10**9)
    with pytest.raises(ArchiveBomb, match=r"^declares 1,001 bytes uncompressed, over the budget$"):
        unpack(out.getvalue(), limits=limits)
    roomy = ArchiveLimits(max_total_bytes=1001, ratio_floor_bytes=10**9)
    assert _members(unpack(out.getvalue(), limits=roomy)) == {
        "a": b"a" * 600,
        "b": b"b" * 401,
        "empty": b"",
    }
    with pytest.raises(ArchiveBomb, match=r"^3 members, over the limit of 2$"):
        unpack(out.getvalue(), limits=ArchiveLimits(max_members=2))


def test_a_corrupt_7z_without_a_password_is_corrupt_not_a_password_failure() -> None:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as sz:
        sz.writestr(bytes(range(256)) * 40, "a")
    data = bytearray(out.getvalue())
    data[40] ^= 0xFF  # in the packed stream: the listing reads, the extraction fails
    with pytest.raises(ArchiveError, match=r"^corrupt 7z: LZMAError") as failed:
        unpack(bytes(data), passwords=["pw"])
    assert type(failed.value) is ArchiveError


def test_a_tool_at_its_deadline_exactly_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """No time left is a timeout: a clock standing at the deadline stops the run at once."""
    import types

    from orbweaver.signals import archives

    ticks = iter([100.0])
    clock = types.SimpleNamespace(monotonic=lambda: next(ticks, 105.0))
    monkeypatch.setattr(archives, "time", clock)
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        with pytest.raises(ToolTimeout, match=r"^sh ran over 5 s, killed$"):
            run_bounded(["sh", "-c", "printf x"], fd, limit=10, timeout=5)
    finally:
        os.close(fd)


def test_a_password_whose_probe_fails_its_check_is_a_failed_try() -> None:
    """A member that decrypts but fails its HMAC is no proof of the password: the next is tried,
    and when none is left the archive is a password failure, not a crash."""
    out = io.BytesIO()
    with pyzipper.AESZipFile(
        out, "w", compression=pyzipper.ZIP_STORED, encryption=pyzipper.WZ_AES
    ) as zf:
        zf.setpassword(b"pw")
        zf.writestr("a.png", b"A" * 64)
    data = bytearray(out.getvalue())
    data[data.index(b"a.png") + 5 + 40] ^= 0xFF  # a ciphertext byte: the HMAC check fails
    with pytest.raises(ArchivePasswordError, match="none of 2 password"):
        unpack(bytes(data), passwords=["pw", "other"])
