"""The category vocabulary (docs/architecture.md): the one place that lists the classifications a
bank entry, a detection, an analyst's assessment or a notice can carry, and their order.

Every stage imports these names instead of spelling the strings out, so a new category (or a
renamed one) is one edit here and a migration, not a search across the tree.
"""

from __future__ import annotations

from typing import Final, Literal

Category = Literal["csam_prepubescent", "csam_postpubescent", "harmful_abusive", "not_actionable"]

CSAM_PREPUBESCENT: Final = "csam_prepubescent"
CSAM_POSTPUBESCENT: Final = "csam_postpubescent"
HARMFUL_ABUSIVE: Final = "harmful_abusive"
NOT_ACTIONABLE: Final = "not_actionable"

# Every category, most severe first.
CATEGORIES: Final = (CSAM_PREPUBESCENT, CSAM_POSTPUBESCENT, HARMFUL_ABUSIVE, NOT_ACTIONABLE)
# The two that X-ARF's `content/csam` classes (A1/A2 and B1/B2) map onto.
CSAM: Final = (CSAM_PREPUBESCENT, CSAM_POSTPUBESCENT)
# What a notice is sent for; `not_actionable` entries exist so analysts do not see them again.
ACTIONABLE: Final = (CSAM_PREPUBESCENT, CSAM_POSTPUBESCENT, HARMFUL_ABUSIVE)
# Rank of an actionable category, 0 most severe: a notice covering several takes the worst.
SEVERITY_RANK: Final = {c: rank for rank, c in enumerate(ACTIONABLE)}
# How a human reads each category (notices' e-mail text, the console, reports).
LABELS: Final = {
    CSAM_PREPUBESCENT: "child sexual abuse material (pre-pubescent)",
    CSAM_POSTPUBESCENT: "child sexual abuse material (post-pubescent)",
    HARMFUL_ABUSIVE: "harmful-abusive imagery of a child",
    NOT_ACTIONABLE: "not actionable",
}


def is_actionable(category: str) -> bool:
    return category in ACTIONABLE


def most_severe(categories: list[str] | tuple[str, ...] | set[str]) -> str:
    """The most severe actionable category among `categories` (ValueError when none is)."""
    ranked = [c for c in categories if c in SEVERITY_RANK]
    if not ranked:
        raise ValueError(f"no actionable category among {sorted(categories)}")
    return min(ranked, key=SEVERITY_RANK.__getitem__)
