"""From bank matches to the Shield API's answer: one classification, one match type.

Categories map onto the SDK's classifications; `not_actionable` entries never make a verdict (they
are on a list so that analysts do not see them again, not because they are abusive).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from orbweaver.banks import Match
from orbweaver.categories import (
    CSAM_POSTPUBESCENT,
    CSAM_PREPUBESCENT,
    HARMFUL_ABUSIVE,
    NOT_ACTIONABLE,
)
from orbweaver.signals import SignalType, signal_types

Classification = Literal["csam", "harmful-abusive-material", "no-known-match"]
MatchType = Literal["exact", "near"]

NO_MATCH: Classification = "no-known-match"
CLASSIFICATION_OF: dict[str, Classification] = {
    CSAM_PREPUBESCENT: "csam",
    CSAM_POSTPUBESCENT: "csam",
    HARMFUL_ABUSIVE: "harmful-abusive-material",
    NOT_ACTIONABLE: NO_MATCH,
}
_SEVERITY: dict[Classification, int] = {"csam": 2, "harmful-abusive-material": 1, NO_MATCH: 0}
PDQ_BYTES = 32


class PDQFormatError(ValueError):
    """A PDQ hash that is neither base64 nor hex of 256 bits."""


@dataclass(frozen=True)
class Verdict:
    classification: Classification
    match_type: MatchType | None
    # The matches that support the verdict, worst and closest first (empty when no match).
    evidence: tuple[Match, ...] = ()


def classify(category: str) -> Classification:
    return CLASSIFICATION_OF.get(category, NO_MATCH)


def decide(matches: Iterable[Match]) -> Verdict:
    """The worst classification among the matches; `exact` when an exact signal type (a crypto
    hash, by the registry) supports it.

    Only the matches of that classification are kept as evidence, so a response never
    mentions an entry that did not decide it.
    """
    actionable = [m for m in matches if _SEVERITY[classify(m.category)] > 0]
    if not actionable:
        return Verdict(NO_MATCH, None)
    worst = max(_SEVERITY[classify(m.category)] for m in actionable)
    evidence = [m for m in actionable if _SEVERITY[classify(m.category)] == worst]
    types = signal_types()
    exact = [m for m in evidence if _is_exact(types.get(m.signal_type))]
    if exact:
        return Verdict(classify(exact[0].category), "exact", tuple(exact))
    evidence.sort(key=lambda m: (m.distance, m.entry_id))
    return Verdict(classify(evidence[0].category), "near", tuple(evidence))


def _is_exact(signal_type: SignalType | None) -> bool:
    return signal_type is not None and signal_type.exact


def sha1_base32(sha1_hex: str) -> str:
    """SHA-1 in base 32 (32 characters, no padding), as Shield reports it."""
    return base64.b32encode(bytes.fromhex(sha1_hex)).decode("ascii") if sha1_hex else ""


def pdq_to_hex(text: str) -> str:
    """A PDQ hash sent as base64 (standard or URL-safe, padding optional) or as 64 hex digits."""
    value = text.strip()
    if len(value) == 2 * PDQ_BYTES:
        try:
            return bytes.fromhex(value).hex()
        except ValueError:
            pass
    altchars = b"-_" if ("-" in value or "_" in value) else None
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PDQFormatError(f"{text!r} is not base64") from exc
    if len(raw) != PDQ_BYTES:
        raise PDQFormatError(f"{text!r} decodes to {len(raw)} bytes, a PDQ hash has {PDQ_BYTES}")
    return raw.hex()


def pdq_to_base64(pdq_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(pdq_hex)).decode("ascii")
