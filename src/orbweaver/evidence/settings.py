"""Settings of the evidence module (env `ORBWEAVER_*`, TOML top level or `[evidence]`)."""

from __future__ import annotations

from typing import ClassVar

from orbweaver.config import OrbweaverSettings


class EvidenceSettings(OrbweaverSettings):
    """How evidence is signed, kept and pruned."""

    section: ClassVar[str] = "evidence"

    # The deployment's Ed25519 signing key: 32 random bytes, URL-safe base64, as
    # `orbweaver evidence keygen` prints it. Without it bundles cannot be exported.
    evidence_signing_key: str = ""
    # Retention per kind of record, in days from capture; then `orbweaver evidence prune`
    # deletes the WARC bytes (hash and size stay), unless a hold covers the case.
    evidence_retention_days_page: float = 365.0
    evidence_retention_days_media: float = 730.0
    # Provider contacts in sent messages (recipient, letter) are anonymised after this long.
    contact_retention_days: float = 730.0
    # The page crawl keeps pages' HTML and headers in memory for the detections their media may
    # make: at most this many bytes a page, this many in all (oldest dropped first).
    evidence_page_max_bytes: int = 1_048_576
    evidence_page_cache_bytes: int = 64 * 1_048_576
