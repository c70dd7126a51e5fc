"""Hashing benchmark (issue 2, section 5): the default PDQ path against the naive one, one core.

    .venv/bin/python -m benchmarks.bench_hashing [--quick] [--repeats N]

Synthetic JPEGs (gradients, shapes and noise, generated in memory from fixed seeds) at 640×480,
1920×1080 and 4000×3000. For each size it measures, in the same run:
- naive: full decode to RGB, then `pdqhash.compute` on the full-size array;
- default: `orbweaver.signals` decoding (JPEG DCT-domain scaling, luma only, each side reduced to
  at least 256 px) then PDQ's 64×64 grid by two matrix products and the DCT/median/quality tail,
  i.e. what `compute_signals` does for PDQ;
- all signals: `compute_signals`, which also computes sha256, sha1 and md5 of the bytes;
and the largest Hamming distance between the default-path and the naive-path hash of each image.
It ends with the default path's distances to the reference hashes of tests/data/pdq.
Each figure is the best of several repeats, because other work may share the machine. The process
is pinned to one CPU and BLAS/OpenMP pools are limited to one thread before numpy loads.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import pdqhash  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from orbweaver.signals import compute_signals, hamming  # noqa: E402
from orbweaver.signals.decode import decode_image  # noqa: E402
from orbweaver.signals.pdq import pdq_from_image  # noqa: E402

SIZES = ((640, 480), (1920, 1080), (4000, 3000))
IMAGES_PER_SIZE = 4


def synthetic_jpeg(width: int, height: int, seed: int, quality: int = 85) -> bytes:
    """A deterministic photo-like JPEG: two-axis gradient, random shapes, mild Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [xx / width * 255, yy / height * 255, (xx + yy) / (width + height) * 255], axis=-1
    )
    im = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(24):
        x0, x1 = sorted(rng.integers(0, width, 2).tolist())
        y0, y1 = sorted(rng.integers(0, height, 2).tolist())
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=colour)
    noisy = np.asarray(im, dtype=np.float32) + rng.normal(0, 6, (height, width, 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB").save(
        out, "JPEG", quality=quality
    )
    return out.getvalue()


def naive_pdq(data: bytes) -> str:
    """Full decode, then pdqhash on the full-size picture (what most integrations do)."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    bits, _quality = pdqhash.compute(rgb)
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def default_pdq(data: bytes) -> str:
    decoded = decode_image(data)
    assert decoded is not None
    return pdq_from_image(decoded)[0]


def all_signals(data: bytes) -> str:
    pdq = compute_signals(data).pdq
    assert pdq is not None
    return pdq


def best_rates(
    paths: list[Callable[[bytes], str]], images: list[bytes], loops: int, repeats: int
) -> list[float]:
    """Images per second of each path, best of `repeats`; the paths take turns within a repeat
    so that load from other processes falls on all of them alike."""
    best = [float("inf")] * len(paths)
    for _ in range(repeats):
        for i, fn in enumerate(paths):
            start = time.perf_counter()
            for _ in range(loops):
                for data in images:
                    fn(data)
            best[i] = min(best[i], time.perf_counter() - start)
    return [loops * len(images) / t for t in best]


def pin_one_core() -> str:
    """Pin this process to the last CPU it may use; returns a description."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def run(quick: bool, repeats: int) -> None:
    print(f"# hashing benchmark, one core ({pin_one_core()}), {platform.python_version()}")
    print(f"# {os.cpu_count()} CPUs on this machine; best of {repeats} repeats")
    header = "size        bytes/img  naive img/s  default img/s  ratio  all-signals img/s  ratio"
    print(header + "  max dist")
    for width, height in SIZES:
        images = [synthetic_jpeg(width, height, seed) for seed in range(IMAGES_PER_SIZE)]
        loops = 1 if quick or width * height > 4_000_000 else 3
        naive, default, full = best_rates(
            [naive_pdq, default_pdq, all_signals], images, loops, repeats
        )
        worst = max(hamming(naive_pdq(d), default_pdq(d)) for d in images)
        mean_bytes = sum(map(len, images)) // len(images)
        print(
            f"{width}x{height:<6} {mean_bytes:>9}  {naive:>11.1f}  {default:>13.1f}  "
            f"{default / naive:>4.1f}x  {full:>17.1f}  {full / naive:>4.1f}x  {worst:>8}"
        )


def reference_conformance() -> None:
    """Default-path distance of each reference image to its reference hash (must be <= 10)."""
    import csv
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "tests" / "data" / "pdq"
    if not (root / "expected.csv").exists():
        return
    rows = list(csv.DictReader((root / "expected.csv").open()))
    distances = [hamming(default_pdq((root / r["path"]).read_bytes()), r["pdq_hex"]) for r in rows]
    print(f"# reference images: {len(rows)}, distances {distances}, max {max(distances)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one pass, two repeats (smoke run)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats; the best one counts")
    args = parser.parse_args()
    run(args.quick, 2 if args.quick else args.repeats)
    reference_conformance()


if __name__ == "__main__":
    main()
