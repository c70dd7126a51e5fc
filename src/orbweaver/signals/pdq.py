"""PDQ through the `pdqhash` bindings, as lower-case hex, plus the Hamming distance.

The hex form is the one ThreatExchange and HMA exchange: the 256 bits in pdqhash's vector order,
most significant first, 64 hex characters.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pdqhash

from orbweaver.signals.decode import Luma

PDQ_HEX_LENGTH = 64

DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)
"""The order of `pdqhash.compute_dihedral`, which `pdq_dihedral` keeps."""


def _as_rgb(luma: Luma) -> npt.NDArray[np.uint8]:
    """pdqhash only takes H×W×3; a grey triple gives back the same luma inside it."""
    return np.ascontiguousarray(np.repeat(luma[:, :, None], 3, axis=2))


def _to_hex(bits: npt.NDArray[np.generic]) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def pdq_from_luma(luma: Luma) -> tuple[str, int]:
    """PDQ hash (hex) and quality (0-100) of an 8-bit luma picture."""
    bits, quality = pdqhash.compute(_as_rgb(luma))
    return _to_hex(bits), int(quality)


def pdq_dihedral_from_luma(luma: Luma) -> tuple[list[str], int]:
    """The eight dihedral PDQ hashes (order: DIHEDRAL_NAMES) and the quality, in one pass."""
    variants, quality = pdqhash.compute_dihedral(_as_rgb(luma))
    return [_to_hex(bits) for bits in variants], int(quality)


def normalize_pdq(value: str) -> str:
    """Lower-case, validated 64-hex PDQ; ValueError otherwise (bank imports rely on this)."""
    text = value.strip().lower()
    if len(text) != PDQ_HEX_LENGTH or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"not a PDQ hash (64 hex characters): {value!r}")
    return text


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two equal-length hex hashes."""
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hashes differ in length: {len(a_hex)} and {len(b_hex)} hex characters")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()
