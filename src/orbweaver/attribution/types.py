"""What attribution answers: the chain of providers for a host and who gets the notice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("content_administrator", "cdn", "hosting_provider", "registrar")


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
