"""Archive unpacking in memory, with bomb limits and a bounded set of password tries.

Archives are where file hosts carry collections, so each member becomes its own sighting (tied to
the archive URL). Everything happens in memory: member bytes are never written to disk in clear
(`unar` reads the archive from an anonymous in-memory file and writes members to a pipe).

Limits (`ArchiveLimits`) stop decompression bombs before they cost memory or CPU: member count and
declared sizes are checked from the directory first, then every read is bounded, so a lying
directory fails at the first byte over budget.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import json
import os
import selectors
import shutil
import subprocess
import time
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ZIP, SEVEN_Z, RAR = "zip", "7z", "rar"
_MAGIC = (
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),
    (b"7z\xbc\xaf\x27\x1c", SEVEN_Z),
    (b"Rar!\x1a\x07", RAR),
)
NESTED_SEPARATOR = "!/"


class ArchiveError(ValueError):
    """The archive cannot be unpacked (corrupt, unsupported), with a reason for the log."""


class ArchiveBomb(ArchiveError):
    """The archive exceeds a bomb limit (members, size, ratio or nesting)."""


class ArchivePasswordError(ArchiveError):
    """The archive is encrypted and none of the offered passwords opened it."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_member_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 512 * 1024 * 1024
    # Uncompressed total over archive size; small archives get `ratio_floor_bytes` regardless.
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 4 * 1024 * 1024
    max_depth: int = 3
    max_password_tries: int = 8
    # Wall-clock seconds one run of an archive tool (lsar, unar) may take before it is killed.
    tool_timeout_s: float = 60.0

    def budget(self, archive_size: int) -> int:
        by_ratio = max(int(archive_size * self.max_ratio), self.ratio_floor_bytes)
        return min(self.max_total_bytes, by_ratio)


@dataclass
class Member:
    path: str
    data: bytes


@dataclass
class UnpackResult:
    format: str
    members: list[Member] = field(default_factory=list)
    password: str | None = None
    # Per-member problems that did not stop the rest (nested too deep, corrupt member).
    problems: list[str] = field(default_factory=list)


def archive_format(data: bytes) -> str | None:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


class _Budget:
    """Bytes left for the whole unpack, nested archives included."""

    def __init__(self, total: int, member_max: int) -> None:
        self.left = total
        self.member_max = member_max

    def member_limit(self) -> int:
        return min(self.left, self.member_max)

    def take(self, path: str, size: int) -> None:
        if size > self.member_max:
            raise ArchiveBomb(f"member {path!r} over {self.member_max:,} bytes")
        if size > self.left:
            raise ArchiveBomb("uncompressed total over the size/ratio budget")
        self.left -= size


def unpack(
    data: bytes,
    *,
    passwords: Iterable[str] = (),
    limits: ArchiveLimits | None = None,
) -> UnpackResult:
    """Every file member of a zip (incl. AES), 7z or rar archive, nested archives flattened.

    Raises ArchiveBomb, ArchivePasswordError or ArchiveError; problems with single nested
    members are reported in `problems` instead so the other members still count.
    """
    limits = limits or ArchiveLimits()
    tries = list(dict.fromkeys(p for p in passwords if p))[: limits.max_password_tries]
    budget = _Budget(limits.budget(len(data)), limits.max_member_bytes)
    return _unpack(data, tries, limits, budget, depth=1)


def _unpack(
    data: bytes, passwords: list[str], limits: ArchiveLimits, budget: _Budget, depth: int
) -> UnpackResult:
    fmt = archive_format(data)
    if fmt is None:
        raise ArchiveError("not a zip, 7z or rar archive")
    reader = {ZIP: _read_zip, SEVEN_Z: _read_7z, RAR: _read_rar}[fmt]
    result = reader(data, passwords, limits, budget)
    flat: list[Member] = []
    for member in result.members:
        if archive_format(member.data) is None:
            flat.append(member)
            continue
        if depth >= limits.max_depth:
            result.problems.append(
                f"{member.path}: nested archive deeper than {limits.max_depth} levels, skipped"
            )
            continue
        try:
            inner = _unpack(member.data, passwords, limits, budget, depth + 1)
        except ArchiveBomb:
            raise
        except ArchiveError as exc:
            result.problems.append(f"{member.path}: {exc}")
            continue
        result.problems.extend(f"{member.path}{NESTED_SEPARATOR}{p}" for p in inner.problems)
        flat.extend(
            Member(f"{member.path}{NESTED_SEPARATOR}{m.path}", m.data) for m in inner.members
        )
    result.members = flat
    return result


def _check_directory(count: int, declared: int, budget: _Budget, limits: ArchiveLimits) -> None:
    if count > limits.max_members:
        raise ArchiveBomb(f"{count:,} members, over the limit of {limits.max_members:,}")
    if declared > budget.left:
        raise ArchiveBomb(f"declares {declared:,} bytes uncompressed, over the budget")


# --- zip (pyzipper reads both ZipCrypto and WinZip AES) ---------------------------------------


def _read_zip(
    data: bytes, passwords: list[str], limits: ArchiveLimits, budget: _Budget
) -> UnpackResult:
    import pyzipper

    # NotImplementedError: a directory that claims a zip version pyzipper does not know (fuzzing)
    errors: tuple[type[Exception], ...] = (
        *_zip_errors(),
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,
    )
    try:
        zf = pyzipper.AESZipFile(io.BytesIO(data))
    except errors as exc:
        raise ArchiveError(f"corrupt zip: {exc}") from exc
    with zf:
        # is_dir() indexes the name's last character: a member with an empty name raised
        # IndexError (fuzzing); such a member is no file we can name, so it is left out
        infos = [i for i in zf.infolist() if i.filename and not i.filename.endswith("/")]
        _check_directory(len(infos), sum(i.file_size for i in infos), budget, limits)
        result = UnpackResult(ZIP)
        encrypted = [i for i in infos if i.flag_bits & 0x1]
        if encrypted:
            probe = min(encrypted, key=lambda i: i.file_size)
            result.password = _find_password(
                passwords, lambda pw: _zip_read(zf, probe, pw.encode(), budget.member_limit())
            )
        pwd = result.password.encode() if result.password else None
        for info in infos:
            try:
                content = _zip_read(
                    zf, info, pwd if info.flag_bits & 0x1 else None, budget.member_limit()
                )
            except ArchiveBomb:
                raise
            except ArchiveError as exc:
                result.problems.append(f"{info.filename}: {exc}")
                continue
            budget.take(info.filename, len(content))
            result.members.append(Member(info.filename, content))
    return result


@functools.lru_cache(maxsize=1)
def _zip_errors() -> tuple[type[Exception], ...]:
    """zipfile's BadZipFile and pyzipper's, which is its own class (not a subclass): catching
    only the first let a truncated or lying zip escape as a crash instead of an ArchiveError."""
    import pyzipper

    return (zipfile.BadZipFile, pyzipper.BadZipFile)


def _zip_read(zf: Any, info: Any, pwd: bytes | None, limit: int) -> bytes:
    """One member, reading at most limit+1 bytes, so a lying header cannot inflate memory."""
    errors: tuple[type[Exception], ...] = (
        *_zip_errors(),
        zlib.error,
        OSError,
        EOFError,
        NotImplementedError,
        ValueError,  # a local header pointing before the file: "negative seek value" (fuzzing)
    )
    try:
        with zf.open(info, pwd=pwd) as handle:
            content: bytes = handle.read(limit + 1)
    except RuntimeError as exc:  # pyzipper/zipfile: bad or missing password
        raise ArchivePasswordError(str(exc)) from exc
    except errors as exc:
        if "password" in str(exc).lower() or ("crc" in str(exc).lower() and pwd):
            raise ArchivePasswordError(str(exc)) from exc
        raise ArchiveError(f"corrupt member: {exc}") from exc
    if len(content) > limit:
        raise ArchiveBomb(f"member {info.filename!r} inflates past {limit:,} bytes")
    return content


def _find_password(passwords: list[str], attempt: Any) -> str:
    """The first password for which `attempt(pw)` succeeds; bounded by the caller's list."""
    for password in passwords:
        try:
            attempt(password)
        except ArchivePasswordError:
            continue
        except (ArchiveBomb, ToolTimeout):
            raise
        except ArchiveError:
            continue
        return password
    raise ArchivePasswordError(
        f"encrypted; none of {len(passwords)} password(s) from the page opened it"
    )


# --- 7z (py7zr, extracted into bounded in-memory writers) -------------------------------------


class _BoundedWriter:
    """A py7zr writer that refuses to grow past the budget (py7zr's own silently truncates)."""

    def __init__(self, name: str, budget: _Budget) -> None:
        self.name = name
        self.budget = budget
        self.buffer = io.BytesIO()

    def write(self, chunk: bytes | bytearray) -> int:
        if self.buffer.tell() + len(chunk) > self.budget.member_limit():
            raise ArchiveBomb(f"member {self.name!r} inflates past the budget")
        return self.buffer.write(chunk)

    def read(self, size: int | None = None) -> bytes:
        return self.buffer.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buffer.seek(offset, whence)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def size(self) -> int:
        return len(self.buffer.getbuffer())


def _read_7z(
    data: bytes, passwords: list[str], limits: ArchiveLimits, budget: _Budget
) -> UnpackResult:
    import py7zr
    from py7zr.io import WriterFactory

    class Factory(WriterFactory):
        def __init__(self) -> None:
            self.products: dict[str, _BoundedWriter] = {}

        def create(self, filename: str) -> Any:
            self.products[filename] = _BoundedWriter(filename, budget)
            return self.products[filename]

    def extract(password: str | None) -> UnpackResult:
        try:
            with py7zr.SevenZipFile(io.BytesIO(data), password=password) as archive:
                files = [f for f in archive.list() if not f.is_directory]
                declared = sum(f.uncompressed or 0 for f in files)
                _check_directory(len(files), declared, budget, limits)
                factory = Factory()
                archive.extractall(factory=factory)
        except ArchiveBomb:
            raise
        except (py7zr.exceptions.PasswordRequired, py7zr.exceptions.Bad7zFile) as exc:
            raise ArchivePasswordError(str(exc)) if password else ArchiveError(str(exc)) from exc
        except Exception as exc:  # py7zr raises many types (lzma, CRC, struct) on bad input
            if password is not None:
                raise ArchivePasswordError(f"{type(exc).__name__}: {exc}") from exc
            raise ArchiveError(f"corrupt 7z: {type(exc).__name__}: {exc}") from exc
        result = UnpackResult(SEVEN_Z, password=password)
        for name, writer in factory.products.items():
            content = writer.buffer.getvalue()
            budget.take(name, len(content))
            result.members.append(Member(name, content))
        return result

    try:
        with py7zr.SevenZipFile(io.BytesIO(data)) as archive:
            locked = archive.needs_password()
    except Exception as exc:
        if "password" not in str(exc).lower():
            raise ArchiveError(f"corrupt 7z: {type(exc).__name__}: {exc}") from exc
        locked = True  # encrypted headers: even the listing needs the password
    if not locked:
        return extract(None)
    found: list[UnpackResult] = []

    def attempt(password: str) -> None:
        found.append(extract(password))

    _find_password(passwords, attempt)
    return found[-1]


# --- rar (libarchive; Debian's unar for what libarchive cannot open, e.g. encrypted rar) ------


def _read_rar(
    data: bytes, passwords: list[str], limits: ArchiveLimits, budget: _Budget
) -> UnpackResult:
    try:
        return _read_libarchive(data, RAR, limits, budget)
    except ArchiveBomb:
        raise
    except ArchiveError as first:
        if shutil.which("unar") is None or shutil.which("lsar") is None:
            raise ArchiveError(f"{first} (and unar is not installed)") from first
        return _read_unar(data, passwords, limits, budget)


def _entry_encrypted(entry: Any) -> bool:
    """Whether libarchive says the entry's data (or metadata) is encrypted.

    libarchive-c has no binding for it, and libarchive hands back the raw bytes of a *stored*
    encrypted RAR member without complaint: without this check, the ciphertext was recorded
    as the member and the page's passwords were never tried."""
    global _IS_ENCRYPTED
    if _IS_ENCRYPTED is None:
        import ctypes

        from libarchive import ffi

        function = ffi.libarchive.archive_entry_is_encrypted
        function.argtypes = [ffi.c_archive_entry_p]
        function.restype = ctypes.c_int
        _IS_ENCRYPTED = function
    return bool(_IS_ENCRYPTED(entry._entry_p))


_IS_ENCRYPTED: Any = None


RAR5_MAGIC = b"Rar!\x1a\x07\x01\x00"


def _read_libarchive(data: bytes, fmt: str, limits: ArchiveLimits, budget: _Budget) -> UnpackResult:
    import libarchive

    result = UnpackResult(fmt)
    try:
        # Only the RAR version the leading bytes declare: with every format enabled, libarchive's
        # zip reader, which looks for a central directory at the end, took a RAR ending in a
        # stored zip member for that zip, and returned its members instead of the RAR's
        rar_format = "rar5" if data.startswith(RAR5_MAGIC) else "rar"
        with libarchive.memory_reader(data, format_name=rar_format) as archive:
            for entry in archive:
                if not entry.isfile:
                    continue
                if len(result.members) >= limits.max_members:
                    raise ArchiveBomb(f"more than {limits.max_members:,} members")
                if _entry_encrypted(entry):
                    raise ArchiveError("encrypted member")
                chunks: list[bytes] = []
                size = 0
                limit = budget.member_limit()
                for block in entry.get_blocks():
                    size += len(block)
                    if size > limit:
                        raise ArchiveBomb(f"member {entry.pathname!r} inflates past the budget")
                    chunks.append(bytes(block))
                budget.take(entry.pathname, size)
                result.members.append(Member(str(entry.pathname), b"".join(chunks)))
    except libarchive.ArchiveError as exc:
        raise ArchiveError(f"libarchive: {exc}") from exc
    return result


def _read_unar(
    data: bytes, passwords: list[str], limits: ArchiveLimits, budget: _Budget
) -> UnpackResult:
    """unar reads the archive from a memfd (RAM, no disk) and writes every member to stdout.

    One extraction per archive, not one per member: the listing first (again per password only
    while the headers themselves are encrypted), then, when members are encrypted, each
    password tried on the smallest of them alone, then every member in one run, cut by the
    listed sizes; the size and CRC of each say whether it is sound."""
    fd = os.memfd_create("orbweaver-archive")
    try:
        os.write(fd, data)
        path = f"/proc/self/fd/{fd}"
        tries = [None, *passwords][: limits.max_password_tries + 1]
        listed = _list_unar(path, fd, tries, limits)
        if listed is None:
            raise ArchivePasswordError(
                f"encrypted; none of {len(passwords)} password(s) from the page opened it"
            )
        files, header_password = listed
        declared = sum(int(e.get("XADFileSize", 0)) for e in files)
        _check_directory(len(files), declared, budget, limits)
        password = header_password
        locked = [e for e in files if e.get("XADIsEncrypted")]
        if locked and header_password is None:
            probe = min(locked, key=lambda e: int(e.get("XADFileSize", 0)))
            password = _find_password(
                passwords, lambda pw: _unar_probe(path, fd, probe, pw, budget, limits)
            )
        return _unar_all(path, fd, files, password, budget, limits)
    finally:
        os.close(fd)


def _list_unar(
    path: str, fd: int, tries: list[str | None], limits: ArchiveLimits
) -> tuple[list[dict[str, Any]], str | None] | None:
    """The file entries and the password the listing needed (None: it needed none)."""
    for password in tries:
        entries = _lsar(path, fd, password, limits)
        if entries is not None:
            return [e for e in entries if not e.get("XADIsDirectory")], password
    return None


def _unar_probe(
    path: str,
    fd: int,
    entry: dict[str, Any],
    password: str,
    budget: _Budget,
    limits: ArchiveLimits,
) -> None:
    """Whether `password` opens one encrypted member (ArchivePasswordError when not)."""
    index = str(entry["XADIndex"])
    args = ["unar", "-q", "-o", "-", "-i", "-p", password, path, index]
    limit = budget.member_limit()
    content, _err, _code = run_bounded(args, fd, limit=limit, timeout=limits.tool_timeout_s)
    name = str(entry.get("XADFileName", index))
    if not _crc_ok(entry, content, name, password):
        raise ArchivePasswordError(f"member {name!r} does not decrypt with this password")


def _unar_all(
    path: str,
    fd: int,
    files: list[dict[str, Any]],
    password: str | None,
    budget: _Budget,
    limits: ArchiveLimits,
) -> UnpackResult:
    """One `unar` run for every member, its output cut by the listed sizes."""
    limit = min(budget.left, sum(int(e.get("XADFileSize", 0)) for e in files))
    args = ["unar", "-q", "-o", "-", *(["-p", password] if password else []), path]
    out, err, code = run_bounded(args, fd, limit=limit, timeout=limits.tool_timeout_s)
    if code != 0 and not out:
        raise ArchiveError(f"unar ended with status {code}: {err[-200:]!r}")
    result = UnpackResult(RAR, password=password)
    offset = 0
    for entry in files:
        size = int(entry.get("XADFileSize", 0))
        content = out[offset : offset + size]
        offset += size
        name = str(entry.get("XADFileName", entry.get("XADIndex")))
        try:
            sound = _crc_ok(entry, content, name, password)
        except ArchivePasswordError as exc:
            result.problems.append(f"{name}: {exc}, skipped")
            continue
        if not sound:
            result.problems.append(f"{name}: corrupt (CRC mismatch), skipped")
            continue
        budget.take(name, len(content))
        result.members.append(Member(name, content))
    return result


class ToolTimeout(ArchiveError):
    """An archive tool ran past its time and was killed."""


def run_bounded(
    args: list[str], fd: int, *, limit: int, timeout: float
) -> tuple[bytes, bytes, int]:
    """(stdout, stderr tail, exit status) of a tool reading the archive from `fd`.

    Both pipes are drained as the tool writes (a full stderr pipe would block it forever);
    stdout over `limit` bytes kills it (ArchiveBomb), so does running past `timeout` seconds
    (ToolTimeout): the process is killed and reaped either way, never left behind."""
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(fd,),
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, out)
            selector.register(proc.stderr, selectors.EVENT_READ, err)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ToolTimeout(f"{args[0]} ran over {timeout:g} s, killed")
                for key, _ in selector.select(timeout=min(left, 1.0)):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    sink: bytearray = key.data
                    sink += chunk
                    if sink is err and len(err) > 1 << 16:
                        del err[: len(err) - (1 << 15)]  # keep the tail only
                    if sink is out and len(out) > limit:
                        raise ArchiveBomb(f"{args[0]} output inflates past {limit:,} bytes")
            code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        raise ToolTimeout(f"{args[0]} ran over {timeout:g} s, killed") from exc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return bytes(out), bytes(err[-4096:]), code


def _crc_ok(entry: dict[str, Any], content: bytes, name: str, password: str | None) -> bool:
    """unar writing to stdout exits 0 even when a member fails its checksum or writes nothing,
    which is what a wrong password produces: the size and CRC from the listing are the check
    (for an encrypted RAR 5 member the listed CRC is a MAC keyed by the password).
    A wrong password raises (the next one is tried); a plain member that fails is corrupt."""
    size = entry.get("XADFileSize")
    expected = next((entry[k] for k in ("RARCRC32", "RAR5CRC32") if k in entry), None)
    actual = zlib.crc32(content)
    if expected is not None and entry.get("RAR5ChecksumsAreEncrypted") and password:
        actual = _rar5_mac(
            actual,
            password,
            str(entry["RAR5EncryptionSalt"]).encode("latin-1"),  # lsar writes bytes as U+00XX
            int(entry["RAR5EncryptionStrength"]),
        )
    sound = (size is None or len(content) == int(size)) and (
        expected is None or actual == int(expected)
    )
    if sound:
        return True
    if entry.get("XADIsEncrypted"):
        raise ArchivePasswordError(f"member {name!r} does not decrypt with this password")
    return False


@functools.lru_cache(maxsize=64)
def _rar5_hash_key(password: str, salt: bytes, strength: int) -> bytes:
    """RAR 5's checksum key: PBKDF2-HMAC-SHA256 run 16 iterations past the encryption key."""
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, (1 << strength) + 16)


def _rar5_mac(crc: int, password: str, salt: bytes, strength: int) -> int:
    """A member's CRC32 as RAR 5 stores it when checksums are encrypted: HMAC-SHA256 of the
    little-endian CRC under the hash key, folded to 32 bits."""
    digest = hmac.new(
        _rar5_hash_key(password, salt, strength), crc.to_bytes(4, "little"), hashlib.sha256
    ).digest()
    folded = 0
    for i, byte in enumerate(digest):
        folded ^= byte << ((i & 3) * 8)
    return folded


def _lsar(
    path: str, fd: int, password: str | None, limits: ArchiveLimits
) -> list[dict[str, Any]] | None:
    args = ["lsar", "-j", *(["-p", password] if password else []), path]
    # a listing of max_members entries is well under 4 KiB each
    out, err, _ = run_bounded(
        args, fd, limit=4096 * (limits.max_members + 16), timeout=limits.tool_timeout_s
    )
    try:
        listing = json.loads(out)
    except ValueError as exc:
        raise ArchiveError(f"lsar could not list the archive: {err[:200]!r}") from exc
    if not isinstance(listing, dict) or listing.get("lsarError"):
        return None
    entries: list[dict[str, Any]] = listing.get("lsarContents", [])
    return entries
