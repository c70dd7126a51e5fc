"""What the hostile-content defences cost (issue 14): a console view rendered in a resource-
limited child against the same render in process (the old way), and the hostile corpus's inputs
handled per family. `python benchmarks/bench_hostile.py [--views N]`; prints load beside figures.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time

from PIL import Image, ImageFilter

from orbweaver.review.imaging import MAX_SIDE, render_or_refuse


def _picture() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((1600, 1200), 40).convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def _in_process(data: bytes) -> bytes:
    """The console's render before issue 14: Pillow in the server process, no allow-list."""
    source = Image.open(io.BytesIO(data))
    source.draft("RGB", (MAX_SIDE, MAX_SIDE))
    source.load()
    source.thumbnail((MAX_SIDE, MAX_SIDE))
    image = source.convert("L").filter(ImageFilter.GaussianBlur(64))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _time(fn: object, data: bytes, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn(data)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--views", type=int, default=20)
    args = parser.parse_args()
    data = _picture()
    load = os.getloadavg()[0]
    before = _time(_in_process, data, args.views)
    after = _time(lambda d: render_or_refuse(d, blur=True, greyscale=True), data, args.views)
    b, a = statistics.median(before), statistics.median(after)
    print(f"load {load:.1f}: one blurred view of a 1600x1200 JPEG, median of {args.views}")
    print(f"  in process (before): {b * 1000:.0f} ms")
    print(f"  child, limited (after): {a * 1000:.0f} ms  ratio {a / b:.1f}x")


if __name__ == "__main__":
    main()
