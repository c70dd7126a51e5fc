"""Encryption at rest for the only media bytes orbweaver ever keeps: suspects awaiting review.

AES-256-GCM with a random nonce per blob; the key comes from settings (`ORBWEAVER_SUSPECT_KEY`).
A key is either 32 random bytes in URL-safe base64 (`orbweaver.store.vault.new_key()`), or any
passphrase, stretched with scrypt and a fixed, product-wide salt so every node derives the same key.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_VERSION = b"OW1"
_SALT = b"orbweaver-suspect-vault-v1"
_NONCE = 12


class VaultError(ValueError):
    """Missing key, wrong key, or tampered ciphertext."""


def new_key() -> str:
    """A fresh random key, printable, for ORBWEAVER_SUSPECT_KEY."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _derive(key: str) -> bytes:
    if not key:
        raise VaultError(
            "no suspect key configured (ORBWEAVER_SUSPECT_KEY): suspects cannot be kept"
        )
    try:
        raw = base64.urlsafe_b64decode(key.encode())
        if len(raw) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    return Scrypt(salt=_SALT, length=32, n=2**14, r=8, p=1).derive(key.encode())


class Vault:
    """Seals and opens blobs with one key; derive once, reuse for every suspect."""

    def __init__(self, key: str) -> None:
        self._aead = AESGCM(_derive(key))

    def seal(self, data: bytes, *, context: bytes = b"") -> bytes:
        """Encrypt `data`; `context` (e.g. the sha256) is authenticated, binding blob to media."""
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, context)

    def open(self, blob: bytes, *, context: bytes = b"") -> bytes:
        if not blob.startswith(_VERSION) or len(blob) < len(_VERSION) + _NONCE + 16:
            raise VaultError("not a sealed blob")
        nonce = blob[len(_VERSION) : len(_VERSION) + _NONCE]
        try:
            return self._aead.decrypt(nonce, blob[len(_VERSION) + _NONCE :], context)
        except InvalidTag as exc:
            raise VaultError("wrong key or tampered blob") from exc
