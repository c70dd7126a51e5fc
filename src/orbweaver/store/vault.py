"""Encryption at rest for the only media bytes orbweaver ever keeps: suspects awaiting review.

AES-256-GCM with a random nonce per blob; the key comes from settings (`ORBWEAVER_SUSPECT_KEY`):
32 random bytes in URL-safe base64, which `orbweaver vault keygen` prints (`new_key()`).

Passphrases are refused. They used to be stretched with scrypt under one salt that every
deployment shared, so one precomputed dictionary attacked them all. Data sealed that way stays
readable: give the old passphrase as `ORBWEAVER_SUSPECT_RETIRED_KEY` (opening only, never
sealing) beside a new random key, and `orbweaver vault rekey` re-seals every kept suspect under
the new key; the retired key can then be dropped. The same two settings rotate a random key.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

if TYPE_CHECKING:
    from orbweaver.store.db import Store

_VERSION = b"OW1"
_LEGACY_SALT = b"orbweaver-suspect-vault-v1"  # passphrases only, for reading old data
_NONCE = 12


class VaultError(ValueError):
    """Missing key, wrong key, or tampered ciphertext."""


def new_key() -> str:
    """A fresh random key, printable, for ORBWEAVER_SUSPECT_KEY."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _raw_key(key: str) -> bytes | None:
    """The 32 bytes of a random key, or None when `key` is not one."""
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _derive(key: str) -> bytes:
    if not key:
        raise VaultError(
            "no suspect key configured (ORBWEAVER_SUSPECT_KEY): suspects cannot be kept"
        )
    raw = _raw_key(key)
    if raw is None:
        raise VaultError(
            "ORBWEAVER_SUSPECT_KEY must be 32 random bytes in URL-safe base64: "
            "`orbweaver vault keygen` prints one. A passphrase used before goes in "
            "ORBWEAVER_SUSPECT_RETIRED_KEY (to read old data), then run `orbweaver vault rekey`"
        )
    return raw


def _derive_retired(key: str) -> bytes:
    """A retired key: random, or a passphrase stretched the way it was before (shared salt)."""
    raw = _raw_key(key)
    if raw is not None:
        return raw
    return Scrypt(salt=_LEGACY_SALT, length=32, n=2**14, r=8, p=1).derive(key.encode())


class Vault:
    """Seals with one key, opens with it or the retired one; derive once, reuse."""

    def __init__(self, key: str, *, retired: str = "") -> None:
        self._aead = AESGCM(_derive(key))
        self._retired = AESGCM(_derive_retired(retired)) if retired else None

    def seal(self, data: bytes, *, context: bytes = b"") -> bytes:
        """Encrypt `data`; `context` (e.g. the sha256) is authenticated, binding blob to media."""
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, context)

    def open(self, blob: bytes, *, context: bytes = b"") -> bytes:
        return self._open(blob, context)[0]

    def rekey(self, blob: bytes, *, context: bytes = b"") -> bytes | None:
        """`blob` sealed under the current key, or None when it already is."""
        data, current = self._open(blob, context)
        return None if current else self.seal(data, context=context)

    def _open(self, blob: bytes, context: bytes) -> tuple[bytes, bool]:
        if not blob.startswith(_VERSION) or len(blob) < len(_VERSION) + _NONCE + 16:
            raise VaultError("not a sealed blob")
        nonce = blob[len(_VERSION) : len(_VERSION) + _NONCE]
        sealed = blob[len(_VERSION) + _NONCE :]
        for aead, current in ((self._aead, True), (self._retired, False)):
            if aead is None:
                continue
            try:
                return aead.decrypt(nonce, sealed, context), current
            except InvalidTag:
                continue
        raise VaultError("wrong key or tampered blob")


def rekey_suspects(store: Store, vault: Vault, *, batch: int = 200) -> tuple[int, int]:
    """Re-seal every kept suspect's bytes under the vault's current key, a batch per
    transaction; returns (re-sealed, already current). Raises VaultError on a blob neither
    key opens (nothing of that batch is changed)."""
    import sqlalchemy as sa

    from orbweaver.store.models import Media, Suspect

    resealed = current = 0
    last_id = 0
    while True:
        with store.session() as s:
            rows = s.execute(
                sa.select(Suspect.id, Suspect.ciphertext, Media.sha256)
                .join(Media, Media.id == Suspect.media_id)
                .where(Suspect.id > last_id, Suspect.ciphertext.is_not(None))
                .order_by(Suspect.id)
                .limit(batch)
            ).all()
            if not rows:
                return resealed, current
            for suspect_id, blob, sha256 in rows:
                if blob is None:
                    continue
                fresh = vault.rekey(blob, context=sha256.encode())
                if fresh is None:
                    current += 1
                else:
                    s.execute(
                        sa.update(Suspect).where(Suspect.id == suspect_id).values(ciphertext=fresh)
                    )
                    resealed += 1
            last_id = rows[-1][0]
