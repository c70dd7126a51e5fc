"""The vault's rules found unpinned by mutation testing: blobs sealed by this version open after
an upgrade (the key derivation, salt, nonce size and layout are a stored format), a random key is
used as it is and a retired passphrase stretched, and the length check sits exactly at the
smallest blob.
"""

from __future__ import annotations

import base64

import pytest

from orbweaver.store.vault import Vault, VaultError, new_key

PASSPHRASE = "correct horse battery staple"  # not base64: stretched with scrypt
RAW_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()  # 32 bytes: used as they are
DATA, CONTEXT = b"synthetic test bytes", b"ctx"
# Sealed by this version (random nonces, so any later seal differs): they must open for good.
SEALED_WITH_PASSPHRASE = bytes.fromhex(
    "4f5731b80db458f280c418418339b0a0c23e6debd350013d4fe8e1cb3399730ca350a09e2390197611304d24"
    "7931dbef4b5618"
)
SEALED_WITH_RAW_KEY = bytes.fromhex(
    "4f5731ab02e4e8a48173210579765b58d1e2de2b12ae96f79c08c65c1dfcf1eb66d2f10adaa9519553591449"
    "250c0eaf961b92"
)


def test_blobs_sealed_by_this_version_still_open() -> None:
    """A passphrase is refused as the key now (issue 14, item 12), but what it sealed before
    still opens with it as the retired key, stretched as it was."""
    assert Vault(RAW_KEY).open(SEALED_WITH_RAW_KEY, context=CONTEXT) == DATA
    retiring = Vault(RAW_KEY, retired=PASSPHRASE)
    assert retiring.open(SEALED_WITH_PASSPHRASE, context=CONTEXT) == DATA
    with pytest.raises(VaultError):  # the raw key is not stretched, the passphrase was
        Vault(RAW_KEY).open(SEALED_WITH_PASSPHRASE, context=CONTEXT)
    with pytest.raises(VaultError, match="32 random bytes"):
        Vault(PASSPHRASE)


def test_a_new_key_is_32_random_bytes_used_as_they_are() -> None:
    keys = {new_key() for _ in range(4)}
    assert len(keys) == 4
    for key in keys:
        assert len(base64.urlsafe_b64decode(key)) == 32
        blob = Vault(key).seal(DATA)
        assert blob.startswith(b"OW1") and len(blob) == 3 + 12 + len(DATA) + 16
        assert Vault(key).open(blob) == DATA


def test_the_length_check_is_at_the_smallest_blob() -> None:
    vault = Vault(RAW_KEY)
    empty = vault.seal(b"")
    assert len(empty) == 3 + 12 + 16 and vault.open(empty) == b""
    with pytest.raises(VaultError, match="not a sealed blob"):
        vault.open(empty[:-1])
    with pytest.raises(VaultError, match="wrong key or tampered"):
        vault.open(empty[:-1] + bytes([empty[-1] ^ 1]))
    with pytest.raises(VaultError, match="not a sealed blob"):
        vault.open(b"XYZ" + empty[3:])
