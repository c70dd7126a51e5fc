"""What attribution answers: the chain of providers for a host and who gets the notice; and
what a provider's name and contacts may be, checked where they enter (RDAP, the operator's
files), so a notice can never be built on one that would inject headers or mail a list.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ROLES = ("content_administrator", "cdn", "hosting_provider", "registrar")

# Lengths: the provider.name column; RFC 5321's limits on a path and a local part; a URL.
MAX_NAME = 200
MAX_HANDLE = 100
MAX_EMAIL = 254
MAX_LOCAL_PART = 64
MAX_URL = 2000
# RFC 5322 atext, for a dot-atom local part (quoted local parts are not accepted).
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Bidirectional overrides and isolates: they make a name read other than it is.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class ContactError(ValueError):
    """A provider name or contact that is refused: never stored, never used in a notice."""


def _plain_text(value: object, what: str, max_len: int) -> str:
    """`value` stripped; refused when empty, too long, or holding control characters (CR/LF
    in a header starts a new one) or bidirectional overrides."""
    if not isinstance(value, str):
        raise ContactError(f"{what} is not text: {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ContactError(f"{what} is empty")
    bad = next(
        (c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI), None
    )
    if bad is not None:
        raise ContactError(
            f"{what} holds a control or bidirectional character (U+{ord(bad):04X}): {text!r:.120}"
        )
    if len(text) > max_len:
        raise ContactError(f"{what} is longer than {max_len} characters: {text[:60]!r}...")
    return text


def check_name(value: object, what: str = "provider name", max_len: int = MAX_NAME) -> str:
    """A provider name (or an RDAP handle) fit to store and to print in a letter."""
    return _plain_text(value, what, max_len)


def check_email(value: object, what: str = "abuse address") -> str:
    """Exactly one bare mailbox, `local@domain`: no list, no display name, no whitespace, ASCII
    only (an address list in one field would mail every address in it)."""
    text = _plain_text(value, what, MAX_EMAIL)
    if any(sep in text for sep in ",;"):
        raise ContactError(f"{what} is a list, not one mailbox: {text!r}")
    if any(c.isspace() or c in '<>()"[]\\:' for c in text):
        raise ContactError(f"{what} is not a bare address (local@domain): {text!r}")
    if not text.isascii():
        raise ContactError(f"{what} is not ASCII: {text!r}")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or "@" in local:
        raise ContactError(f"{what} is not one local@domain address: {text!r}")
    if len(local) > MAX_LOCAL_PART or not _LOCAL.fullmatch(local):
        raise ContactError(f"{what} has an invalid local part: {text!r}")
    labels = domain.rstrip(".").split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise ContactError(f"{what} has an invalid domain: {text!r}")
    return text


def check_webhook(value: object, what: str = "webhook URL") -> str:
    """An absolute http(s) URL with a host, without whitespace or control characters."""
    text = _plain_text(value, what, MAX_URL)
    if any(c.isspace() for c in text):
        raise ContactError(f"{what} holds whitespace: {text!r:.120}")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise ContactError(f"{what} is not a URL: {text!r:.120} ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ContactError(f"{what} is not an http(s) URL with a host: {text!r:.120}")
    return text


@dataclass(frozen=True)
class ChainLink:
    """One provider that makes a URL reachable, in the role it plays for that URL."""

    role: str
    provider_id: int
    name: str
    contact: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "provider_id": self.provider_id,
            "name": self.name,
            "contact": self.contact,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChainLink:
        return cls(d["role"], int(d["provider_id"]), d["name"], d.get("contact"))


@dataclass
class Attribution:
    """The chain for one host, from the site outwards, and the chosen recipient.

    `tor_only`: the content is on an onion service; nobody can be sent a notice, it is
    recorded and counted. `error`: resolution failed (retried after a short TTL).
    """

    host: str
    addresses: list[str] = field(default_factory=list)
    chain: list[ChainLink] = field(default_factory=list)
    recipient_id: int | None = None
    tor_only: bool = False
    error: str | None = None
    asn: int | None = None
    override: bool = False
    # Where the host's first address is registered (RDAP's network `country`); "" unknown.
    country: str = ""

    @property
    def recipient(self) -> ChainLink | None:
        for link in self.chain:
            if link.provider_id == self.recipient_id:
                return link
        return None

    def upstream_of(self, provider_id: int, level: int) -> ChainLink | None:
        """The provider `level` steps up the chain from `provider_id`, skipping repeats."""
        ids = [link.provider_id for link in self.chain]
        start = ids.index(provider_id) if provider_id in ids else -1
        seen = {provider_id}
        steps = 0
        for link in self.chain[start + 1 :]:
            if link.provider_id in seen:
                continue
            seen.add(link.provider_id)
            steps += 1
            if steps == level:
                return link
        return None
