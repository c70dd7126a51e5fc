"""PDQ, computed as the reference implementation does, from a luma picture at any integer scale.

The reference (ThreatExchange `pdqhashing.cpp`, which the `pdqhash` bindings wrap) hashes a float
luma picture in four steps:
1. blur with a tent filter: two passes of a 1-D box along rows and along columns (Jarosz), the box
   `(n + 127) // 128` pixels wide, clipped and renormalised at the edges;
2. decimate to 64×64, sampling the blurred picture at row `int((i + 0.5) * rows / 64)` and column
   `int((j + 0.5) * cols / 64)`;
3. quality: the sum of the 64×64 grid's quantised neighbour gradients, divided by 90, at most 100;
4. a 16×64 DCT matrix (rows 1..16, the DC term left out) applied on both sides, and bit `16 i + j`
   set where coefficient (i, j) exceeds the median (the 128th smallest of the 256).

Steps 1 and 2 are linear, so the 64×64 grid is `R · luma · Cᵀ` with R (64×rows) and C (64×cols) the
tent weights of the sampled rows and columns. This module builds R and C once per size and applies
them with two matrix products, which costs far less than filtering every pixel: on a full-size
picture the result is pdqhash's hash and quality (the tests hold it to that). When the luma comes
from a picture reduced by an integer factor `scale` (JPEG DCT-domain scaling, or a box reduction),
each reduced pixel stands for a `scale`×`scale` block of the original, so the weights of the
original's pixels are summed block by block: the grid is then what the reference would compute
on the original, up to what the reduction itself lost.

The hex form is the one ThreatExchange and HMA exchange: the 256 bits in pdqhash's vector order
(bit 255 first), 64 hex characters.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from orbweaver.signals.decode import DecodedImage, Luma

PDQ_HEX_LENGTH = 64
GRID = 64
"""Side of the picture PDQ computes its DCT from."""
MAX_EXACT_SIDE = 32768
"""Above this many pixels along a side, the weights are those of the reduced side itself (the
exact ones would need memory in proportion to the original side)."""
MIN_HASHABLE_DIM = 5
"""The reference returns an all-zero hash of quality 0 below this many rows or columns."""

Grid = npt.NDArray[np.float32]

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

_ZERO_HASH = "0" * PDQ_HEX_LENGTH
_HEX = re.compile(r"[0-9a-f]+")


def _dct_matrix() -> npt.NDArray[np.float32]:
    """16×64: row i is the DCT-II basis of frequency i + 1, scaled by sqrt(2/64) (as float)."""
    i = np.arange(1, 17, dtype=np.float64)[:, None]
    j = np.arange(GRID, dtype=np.float64)[None, :]
    scale = np.float32(math.sqrt(2.0 / GRID))
    return (scale * np.cos((math.pi / 2.0 / GRID) * i * (2 * j + 1)).astype(np.float32)).astype(
        np.float32
    )


_DCT = _dct_matrix()
_DCT_T = np.ascontiguousarray(_DCT.T)


def jarosz_window(size: int) -> int:
    """The reference's box width along a side of `size` pixels (two passes make the tent)."""
    return (size + 2 * GRID - 1) // (2 * GRID)


@lru_cache(maxsize=256)
def axis_weights(size: int, scale: int = 1) -> npt.NDArray[np.float32]:
    """64 × ceil(size / scale) weights: row i gives the grid's sample i along a side of the
    original `size` pixels long, as a combination of the pixels of that side reduced `scale`
    times (pixel p standing for original pixels p·scale .. p·scale + scale - 1)."""
    if size < 1 or scale < 1:
        raise ValueError(f"bad axis: size {size}, scale {scale}")
    width = jarosz_window(size)
    half = (width + 2) // 2
    k = np.arange(size)
    lo = np.maximum(k - (width - half), 0)  # box output k averages inputs lo[k] .. hi[k]
    hi = np.minimum(k + half - 1, size - 1)
    count = (hi - lo + 1).astype(np.float64)
    centres = ((np.arange(GRID) + 0.5) * size / GRID).astype(np.int64)
    # Second pass at each centre: the average of first-pass outputs lo[c] .. hi[c]; each of those
    # is itself a uniform run, added as +w at its start and -w past its end (then a cumsum).
    inner = lo[centres][:, None] + np.arange(width)[None, :]
    valid = inner <= hi[centres][:, None]
    inner = np.where(valid, inner, 0)
    coef = np.where(valid, 1.0 / (count[centres][:, None] * count[inner]), 0.0)
    rows = np.broadcast_to(np.arange(GRID)[:, None], inner.shape)
    steps = np.zeros((GRID, size + 1))
    np.add.at(steps, (rows, lo[inner]), coef)
    np.add.at(steps, (rows, hi[inner] + 1), -coef)
    tent = np.cumsum(steps, axis=1)[:, :size]
    if scale > 1:
        tent = np.add.reduceat(tent, np.arange(0, size, scale), axis=1)
    weights: npt.NDArray[np.float32] = np.ascontiguousarray(tent, dtype=np.float32)
    return weights


def _weights(size: int, scale: int, reduced: int) -> npt.NDArray[np.float32]:
    if size > MAX_EXACT_SIDE:
        return axis_weights(reduced, 1)
    weights = axis_weights(size, scale)
    if weights.shape[1] != reduced:
        raise ValueError(f"{reduced} pixels are not {size} reduced {scale} times")
    return weights


def pdq_grid(
    luma: Luma,
    height: int | None = None,
    width: int | None = None,
    scale: tuple[int, int] = (1, 1),
) -> Grid:
    """The reference's 64×64 blurred and decimated grid of a `height`×`width` picture, given
    its luma reduced `scale` = (x, y) times (`luma` is ceil(height/y) × ceil(width/x))."""
    rows, cols = luma.shape
    height = rows if height is None else height
    width = cols if width is None else width
    r, c = _weights(height, scale[1], rows), _weights(width, scale[0], cols)
    grid: Grid = (r @ luma.astype(np.float32)) @ c.T
    return grid


def quality_from_grid(grid: Grid) -> int:
    """The reference's quality: gradients quantised to (Δ·100/255) truncated, summed, /90."""
    g = np.asarray(grid, dtype=np.float32)
    down = np.trunc((g[:-1, :] - g[1:, :]) * np.float32(100) / np.float32(255))
    across = np.trunc((g[:, :-1] - g[:, 1:]) * np.float32(100) / np.float32(255))
    total = int(np.abs(down).astype(np.int64).sum() + np.abs(across).astype(np.int64).sum())
    return min(100, total // 90)


def _dct16(grid: Grid) -> Grid:
    coefficients: Grid = (_DCT @ np.asarray(grid, dtype=np.float32)) @ _DCT_T
    return coefficients


def _bits_hex(coefficients: Grid) -> str:
    """Bit 16 i + j set where coefficient (i, j) exceeds the median; pdqhash's hex order."""
    flat = coefficients.ravel()
    median = np.partition(flat, 127)[127]  # torben's median of 256 values: the 128th smallest
    return np.packbits((flat > median)[::-1]).tobytes().hex()


def _dihedral_coefficients(b: Grid) -> list[Grid]:
    """The DCT of each rotation/flip, from the original's (the reference's sign patterns)."""
    odd = (np.arange(16) & 1).astype(bool)
    row_sign = np.where(odd, 1, -1).astype(np.float32)[:, None]  # + on odd rows
    col_sign = row_sign.T  # + on odd columns
    checker = row_sign * col_sign  # + where i + j is even
    return [
        b,
        (b * col_sign).T,  # rotate90
        b * checker,  # rotate180
        (b * row_sign).T,  # rotate270
        b * row_sign,  # flipx
        b * col_sign,  # flipy
        b.T,  # flip_plus1
        (b * checker).T,  # flip_minus1
    ]


def pdq_from_grid(grid: Grid) -> tuple[str, int]:
    """PDQ hash (hex) and quality (0-100) of a 64×64 grid."""
    return _bits_hex(_dct16(grid)), quality_from_grid(grid)


def pdq_dihedral_from_grid(grid: Grid) -> tuple[list[str], int]:
    """The eight dihedral hashes (order: DIHEDRAL_NAMES) and the quality of a 64×64 grid."""
    return [_bits_hex(b) for b in _dihedral_coefficients(_dct16(grid))], quality_from_grid(grid)


def _hashable(height: int, width: int) -> bool:
    return height >= MIN_HASHABLE_DIM and width >= MIN_HASHABLE_DIM


def pdq_from_image(image: DecodedImage) -> tuple[str, int]:
    """PDQ hash and quality of a decoded picture (its luma at `image.scale`)."""
    if not _hashable(image.height, image.width):
        return _ZERO_HASH, 0
    return pdq_from_grid(pdq_grid(image.luma, image.height, image.width, image.scale))


def pdq_dihedral_from_image(image: DecodedImage) -> tuple[list[str], int]:
    """The eight dihedral hashes (order: DIHEDRAL_NAMES) and the quality, in one pass."""
    if not _hashable(image.height, image.width):
        return [_ZERO_HASH] * len(DIHEDRAL_NAMES), 0
    return pdq_dihedral_from_grid(pdq_grid(image.luma, image.height, image.width, image.scale))


def pdq_from_luma(luma: Luma) -> tuple[str, int]:
    """PDQ hash (hex) and quality (0-100) of a full-size 8-bit luma picture (pdqhash's result)."""
    rows, cols = luma.shape
    if not _hashable(rows, cols):
        return _ZERO_HASH, 0
    return pdq_from_grid(pdq_grid(luma))


def pdq_dihedral_from_luma(luma: Luma) -> tuple[list[str], int]:
    """The eight dihedral PDQ hashes (order: DIHEDRAL_NAMES) and the quality, in one pass."""
    rows, cols = luma.shape
    if not _hashable(rows, cols):
        return [_ZERO_HASH] * len(DIHEDRAL_NAMES), 0
    return pdq_dihedral_from_grid(pdq_grid(luma))


def normalize_pdq(value: str) -> str:
    """Lower-case, validated 64-hex PDQ; ValueError otherwise (bank imports rely on this)."""
    text = value.strip().lower()
    if len(text) != PDQ_HEX_LENGTH or not _HEX.fullmatch(text):
        raise ValueError(f"not a PDQ hash (64 hex characters): {value!r}")
    return text


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two equal-length hex hashes."""
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hashes differ in length: {len(a_hex)} and {len(b_hex)} hex characters")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()
