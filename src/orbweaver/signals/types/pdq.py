"""PDQ as a signal type: a 256-bit perceptual hash of a picture, compared by Hamming distance.

The hashing itself is `orbweaver.signals.pdq`; the index is the exact multi-index-hashing search
of `orbweaver.signals.pdq_index`. A bank's threshold is a PDQ distance (31 by default, HMA's),
and a picture whose quality is below 50 has too little detail to be matched perceptually (HMA's
floor too; `pdq_quality_min` in the settings overrides it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver.signals.base import ImageSignalType, SignalIndex
from orbweaver.signals.pdq import hamming, normalize_pdq, pdq_from_image

if TYPE_CHECKING:
    from orbweaver.signals.decode import DecodedImage


class PdqSignalType(ImageSignalType):
    """PDQ (python-threatexchange's `PdqSignal`)."""

    name = "pdq"
    exact = False
    default_threshold = 31
    quality_floor = 50
    missing = "no PDQ hash (not a decodable image)"

    @property
    def label(self) -> str:
        return "PDQ"

    def compute_image(self, image: DecodedImage) -> tuple[str, int]:
        return pdq_from_image(image)

    def normalize(self, value: str) -> str:
        return normalize_pdq(value)

    def distance(self, a: str, b: str) -> int:
        return hamming(normalize_pdq(a), normalize_pdq(b))

    def threshold_for_bank(self, bank_threshold: int) -> int:
        return bank_threshold

    def new_index(self) -> SignalIndex:
        # imported here: the index loads numba, which hashing processes never need
        from orbweaver.signals.pdq_index import PDQHexIndex

        return PDQHexIndex()


PDQ = PdqSignalType()
