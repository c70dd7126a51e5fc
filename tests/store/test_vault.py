"""Suspect bytes are only ever stored sealed; the wrong key or a changed blob is refused."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from orbweaver.store.vault import Vault, VaultError, new_key


def test_round_trip_and_no_clear_bytes() -> None:
    vault = Vault(new_key())
    data = b"\x89PNG synthetic test bytes" * 10
    blob = vault.seal(data, context=b"sha")
    assert data not in blob and b"synthetic" not in blob
    assert vault.open(blob, context=b"sha") == data
    assert vault.seal(data) != vault.seal(data)  # fresh nonce each time


def test_wrong_key_context_or_tamper_refused() -> None:
    vault = Vault(new_key())
    blob = vault.seal(b"x", context=b"a")
    with pytest.raises(VaultError):
        Vault(new_key()).open(blob, context=b"a")
    with pytest.raises(VaultError):
        vault.open(blob, context=b"b")
    with pytest.raises(VaultError):
        vault.open(blob[:-1] + bytes([blob[-1] ^ 1]), context=b"a")
    with pytest.raises(VaultError, match="not a sealed"):
        vault.open(b"plain", context=b"a")


def test_no_key_refused() -> None:
    with pytest.raises(VaultError, match="ORBWEAVER_SUSPECT_KEY"):
        Vault("")


def sealed_before(passphrase: str, data: bytes, context: bytes) -> bytes:
    """A blob as a passphrase vault sealed it before (scrypt under the product-wide salt)."""
    key = Scrypt(salt=b"orbweaver-suspect-vault-v1", length=32, n=2**14, r=8, p=1).derive(
        passphrase.encode()
    )
    nonce = os.urandom(12)
    return b"OW1" + nonce + AESGCM(key).encrypt(nonce, data, context)


def test_a_passphrase_is_refused_with_the_way_out() -> None:
    with pytest.raises(VaultError, match="vault keygen"):
        Vault("a passphrase, stretched")
    with pytest.raises(VaultError, match="SUSPECT_RETIRED_KEY"):
        Vault("a" * 43)  # not 32 bytes once decoded


def test_data_sealed_under_a_passphrase_stays_readable_and_is_rekeyed() -> None:
    old = sealed_before("an old passphrase", b"synthetic bytes", b"sha")
    vault = Vault(new_key(), retired="an old passphrase")
    assert vault.open(old, context=b"sha") == b"synthetic bytes"
    fresh = vault.rekey(old, context=b"sha")
    assert fresh is not None and vault.rekey(fresh, context=b"sha") is None
    with pytest.raises(VaultError):
        Vault(new_key(), retired="another passphrase").open(old, context=b"sha")
