"""Hostile archives, built here in memory (zip, 7z, RAR 4 through tests/crawl/rar4.py)."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import py7zr

from crawl.rar4 import rar4


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], bytes]
    # "bomb" (ArchiveBomb), "password" (ArchivePasswordError), "error" (ArchiveError),
    # "members" (unpacked, possibly with problems listed)
    expect: str
    reason: str = ""


def zip_of(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _nested(depth: int) -> bytes:
    data = zip_of({"leaf.txt": b"leaf"})
    for level in range(depth):
        data = zip_of({f"level{level}.zip": data})
    return data


def _zip_symlink() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        info = zipfile.ZipInfo("link-to-passwd")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
        zf.writestr("ok.txt", b"fine")
    return out.getvalue()


def _zip_lying_sizes() -> bytes:
    """The directory says 10 bytes; the member inflates to 8 MiB."""
    data = bytearray(zip_of({"liar.bin": b"\0" * (8 * 1024 * 1024)}))
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    local = data.index(b"PK\x03\x04")
    data[local + 22 : local + 26] = (10).to_bytes(4, "little")
    return bytes(data)


def _zip_one_corrupt_member() -> bytes:
    data = bytearray(zip_of({"good.txt": b"good " * 100, "bad.txt": b"bad " * 100}))
    second = data.index(b"PK\x03\x04", 4)
    start = second + 30 + len("bad.txt")
    data[start : start + 8] = b"\xff" * 8  # deflate stream of the second member broken
    return bytes(data)


def _seven_zip(members: dict[str, bytes], **kw: object) -> bytes:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", **kw) as archive:  # type: ignore[arg-type]
        for name, data in members.items():
            archive.writestr(data, name)
    return out.getvalue()


def _truncated(make: Callable[[], bytes], keep: float) -> Callable[[], bytes]:
    return lambda: make()[: int(len(make()) * keep)]


SMALL = {"a.txt": b"a" * 2000, "b.txt": b"b" * 3000}

CASES: list[Case] = [
    Case("zip-ratio-bomb-50mib", lambda: zip_of({"z.bin": b"\0" * (50 << 20)}), "bomb"),
    Case(
        "zip-count-bomb-20000",
        lambda: zip_of({f"{i}": b"" for i in range(20_000)}),
        "bomb",
        "members",
    ),
    Case("zip-nesting-bomb-8", lambda: _nested(8), "members", "nested archive deeper"),
    Case(
        "zip-quine-like-self-nest",
        lambda: zip_of({"again.zip": _nested(5)}),
        "members",
        "nested archive deeper",
    ),
    Case("zip-lying-directory", _zip_lying_sizes, "any"),
    Case("zip-traversal-dotdot", lambda: zip_of({"../../../../etc/cron.d/x": b"x"}), "members"),
    Case("zip-traversal-absolute", lambda: zip_of({"/etc/passwd": b"root"}), "members"),
    Case("zip-traversal-backslash", lambda: zip_of({"..\\..\\windows\\x.dll": b"x"}), "members"),
    Case("zip-name-control-chars", lambda: zip_of({"a\x1b[2J\r\n.txt": b"x"}), "members"),
    Case("zip-symlink-member", _zip_symlink, "members"),
    Case("zip-one-corrupt-member", _zip_one_corrupt_member, "members", "corrupt"),
    Case("zip-truncated", _truncated(lambda: zip_of(SMALL), 0.6), "error"),
    Case("zip-magic-only", lambda: b"PK\x03\x04", "error"),
    Case(
        "7z-encrypted-headers-no-password",
        lambda: _seven_zip(SMALL, password="pw", header_encryption=True),
        "password",
    ),
    Case("7z-encrypted-wrong-password", lambda: _seven_zip(SMALL, password="right"), "password"),
    Case("7z-truncated", _truncated(lambda: _seven_zip(SMALL), 0.5), "error"),
    Case("7z-ratio-bomb", lambda: _seven_zip({"z.bin": b"\0" * (40 << 20)}), "bomb"),
    Case("rar-truncated", _truncated(lambda: rar4(SMALL), 0.5), "any"),
    Case(
        "rar-encrypted-wrong-password",
        lambda: rar4({"a.txt": b"secret"}, password="right"),
        "password",
    ),
    # libarchive reads a bare RAR marker as an empty archive: no members, no error
    Case("rar-magic-only", lambda: b"Rar!\x1a\x07\x00", "any"),
]
