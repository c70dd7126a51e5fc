"""Suspect bytes are only ever stored sealed; the wrong key or a changed blob is refused."""

from __future__ import annotations

import pytest

from orbweaver.store.vault import Vault, VaultError, new_key


def test_round_trip_and_no_clear_bytes() -> None:
    vault = Vault(new_key())
    data = b"\x89PNG synthetic test bytes" * 10
    blob = vault.seal(data, context=b"sha")
    assert data not in blob and b"synthetic" not in blob
    assert vault.open(blob, context=b"sha") == data
    assert vault.seal(data) != vault.seal(data)  # fresh nonce each time


def test_wrong_key_context_or_tamper_refused() -> None:
    vault = Vault("a passphrase, stretched")
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
