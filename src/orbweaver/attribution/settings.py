"""Settings of the attribution stage (env `ORBWEAVER_*`, TOML top level or `[attribution]`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from orbweaver.config import OrbweaverSettings


class AttributionSettings(OrbweaverSettings):
    """Where RDAP is, which networks are CDNs, where operators' decisions live, how long a
    resolved chain is trusted."""

    section: ClassVar[str] = "attribution"

    # Base URL of RFC 9224 bootstrap files (ipv4.json, asn.json, dns.json); IANA's by default.
    rdap_bootstrap_url: str = "https://data.iana.org/rdap/"
    rdap_timeout_s: float = 10.0
    # CDNs are recognised by origin ASN or by address range.
    cdn_asns: Annotated[list[int], NoDecode] = Field(default_factory=list)
    cdn_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A JSON file of known providers (name, service_type, abuse_email, webhook, digest, asn,
    # network, domain, sites): contacts and channels RDAP does not carry.
    providers_file: str = ""
    # A JSON file of operator overrides: [{"domain"|"network": ..., "provider": name, ...}].
    overrides_file: str = ""
    attribution_cache_ttl_s: float = 86400.0
    attribution_error_ttl_s: float = 300.0

    @field_validator("cdn_asns", "cdn_networks", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
