"""Proof of work for anonymous forms (hashcash-style), instead of a CAPTCHA.

The server hands out a challenge `TIME.NONCE.BITS.MAC` (MAC: HMAC-SHA256 of the rest under the
server's secret, so challenges cannot be forged or made easier); the browser finds a counter
such that sha256(`CHALLENGE:COUNTER`) starts with BITS zero bits (about 2**BITS hashes) and
sends both. The server checks the MAC, the age, the zero bits, and that the challenge was not
used before (a bounded in-memory set per worker: a replay to another worker within the age
limit is possible, and costs the rate limit all the same).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections import OrderedDict


class PowError(ValueError):
    """A proof that does not hold; the message says why (for the reporter)."""


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def solve(challenge: str, bits: int) -> str:
    """The counter a browser would find (tests and scripts)."""
    counter = 0
    while True:
        digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
        if leading_zero_bits(digest) >= bits:
            return str(counter)
        counter += 1


class ProofOfWork:
    """Issues and checks challenges (see the module docstring)."""

    def __init__(self, secret: str, bits: int, max_age_s: float, remember: int = 100_000):
        self.key = secret.encode() if secret else os.urandom(32)
        self.bits = bits
        self.max_age_s = max_age_s
        self.remember = remember
        self._used: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def _mac(self, body: str) -> str:
        return hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def challenge(self, now: float) -> str:
        body = f"{int(now)}.{secrets.token_hex(8)}.{self.bits}"
        return f"{body}.{self._mac(body)}"

    def check(self, challenge: str, counter: str, now: float) -> None:
        """Raise PowError unless `counter` solves a fresh challenge of ours."""
        parts = challenge.split(".")
        if len(parts) != 4 or len(counter) > 20 or not counter.isdigit():
            raise PowError("malformed proof of work")
        body, mac = ".".join(parts[:3]), parts[3]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise PowError("challenge not issued here")
        issued, bits = int(parts[0]), int(parts[2])
        if not 0 <= now - issued <= self.max_age_s:
            raise PowError("challenge expired: reload the form")
        digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
        if bits < self.bits or leading_zero_bits(digest) < bits:
            raise PowError("proof of work does not hold")
        with self._lock:
            if challenge in self._used:
                raise PowError("challenge already used: reload the form")
            self._used[challenge] = None
            while len(self._used) > self.remember:
                self._used.popitem(last=False)
