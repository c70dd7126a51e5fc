"""A writer of RAR 4 archives for tests: members stored (not compressed), optionally encrypted.

No RAR writer is packaged in Debian main or on PyPI (RAR compression is proprietary), so the
crawl's RAR path could not be tested from fixtures made here. The RAR 4 container itself is
documented (RARLAB's technote; unrar's source for the AES key derivation): a marker, a main
header, one header per file followed by its data, an end block. Stored members need no
compression, and RAR 3/4 encryption is AES-128-CBC under a key derived from the password and an
8-byte salt, which is enough to produce archives that `unar` and libarchive read as real ones.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MARKER = b"Rar!\x1a\x07\x00"
MAIN_HEAD, FILE_HEAD, END_HEAD = 0x73, 0x74, 0x7B
LONG_BLOCK, HAS_PASSWORD, HAS_SALT = 0x8000, 0x0004, 0x0400
STORE = 0x30
DOS_TIME_2024 = ((2024 - 1980) << 25) | (1 << 21) | (1 << 16)  # 2024-01-01 00:00


def _block(head_type: int, flags: int, body: bytes) -> bytes:
    """A header: CRC16 (the low half of CRC32 over everything after it), type, flags, size."""
    rest = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest


def rar3_key(password: str, salt: bytes) -> tuple[bytes, bytes]:
    """RAR 3.x key derivation: 2^18 SHA-1 rounds over password (UTF-16LE) + salt + counter;
    the IV takes the last digest byte every 2^14 rounds; the key is the digest's first four
    words, each written little-endian."""
    raw = password.encode("utf-16-le") + salt
    rounds = 0x40000
    sha = hashlib.sha1()
    iv = bytearray(16)
    for i in range(rounds):
        sha.update(raw)
        sha.update(bytes((i & 0xFF, (i >> 8) & 0xFF, (i >> 16) & 0xFF)))
        if i % (rounds // 16) == 0:
            iv[i // (rounds // 16)] = sha.copy().digest()[19]
    digest = sha.digest()
    key = b"".join(digest[k : k + 4][::-1] for k in range(0, 16, 4))
    return key, bytes(iv)


def rar4(members: dict[str, bytes], password: str | None = None) -> bytes:
    """A RAR 4 archive holding `members` stored; encrypted with `password` when given."""
    out = [MARKER, _block(MAIN_HEAD, 0, b"\0" * 6)]
    for name, data in members.items():
        packed, flags, salt = data, LONG_BLOCK, b""
        if password is not None:
            salt = os.urandom(8)
            key, iv = rar3_key(password, salt)
            padded = data + b"\0" * (-len(data) % 16)
            encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            packed = encryptor.update(padded) + encryptor.finalize()
            flags |= HAS_PASSWORD | HAS_SALT
        encoded = name.encode()
        body = struct.pack(
            "<IIBIIBBHI",
            len(packed),
            len(data),
            3,  # host OS: Unix
            zlib.crc32(data),
            DOS_TIME_2024,
            29,  # version needed to extract: 2.9 (RAR 3.x, required for AES)
            STORE,
            len(encoded),
            0o100644,  # Unix mode of a regular file
        )
        out.append(_block(FILE_HEAD, flags, body + encoded + salt) + packed)
    out.append(_block(END_HEAD, 0x4000, b""))
    return b"".join(out)
