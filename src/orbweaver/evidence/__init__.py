"""Evidence (docs/architecture.md, issue 19): what the crawl saw when it made a detection,
kept as WARC records, and a notice's signed bundle of them. A shared service below the
stages (like `net`): the crawl writes records through it, the CLI and the console export and
verify bundles.

Modules: `capture` (headers and pages held in memory until a detection needs them), `warc`
(the records), `bundle` (export, Ed25519 signature, verification), `retention` (pruning,
holds, contacts anonymised), `settings`.

Public surface: `Exchange`, `PageCapture`, `PageCache`, `page_capture`, `header_pairs`,
`Blob`, `page_blob`, `media_blob`, `read_records`, `export_bundle`, `verify_bundle`,
`Verification`, `EvidenceError`, `new_signing_key`, `signing_key`, `public_key_text`,
`prune`, `PruneStats`, `held_sightings`, `EvidenceSettings`.
Nothing is imported until used (`orbweaver._lazy`): warcio and cryptography load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.evidence.bundle import (
        EvidenceError,
        Verification,
        export_bundle,
        new_signing_key,
        public_key_text,
        signing_key,
        verify_bundle,
    )
    from orbweaver.evidence.capture import (
        Exchange,
        PageCache,
        PageCapture,
        header_pairs,
        page_capture,
    )
    from orbweaver.evidence.retention import PruneStats, held_sightings, prune
    from orbweaver.evidence.settings import EvidenceSettings
    from orbweaver.evidence.warc import Blob, media_blob, page_blob, read_records
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".bundle": [
                "EvidenceError",
                "Verification",
                "export_bundle",
                "new_signing_key",
                "public_key_text",
                "signing_key",
                "verify_bundle",
            ],
            ".capture": ["Exchange", "PageCache", "PageCapture", "header_pairs", "page_capture"],
            ".retention": ["PruneStats", "held_sightings", "prune"],
            ".settings": ["EvidenceSettings"],
            ".warc": ["Blob", "media_blob", "page_blob", "read_records"],
        },
    )

__all__ = [
    "Blob",
    "EvidenceError",
    "EvidenceSettings",
    "Exchange",
    "PageCache",
    "PageCapture",
    "PruneStats",
    "Verification",
    "export_bundle",
    "header_pairs",
    "held_sightings",
    "media_blob",
    "new_signing_key",
    "page_blob",
    "page_capture",
    "prune",
    "public_key_text",
    "read_records",
    "signing_key",
    "verify_bundle",
]
