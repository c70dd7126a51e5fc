"""The Shield's pixel budget (issue 14, item 5): what one small hostile upload costs.

    .venv/bin/python -m benchmarks.bench_shield_budget

A flat synthetic 8000×8000 PNG (~200 KiB) declares 64 megapixels, exactly the crawler's limit.
*Before*: `/v1/media/` decoded it in full (what `compute_signals` does). *After*: the header is
read (`decode_cost`), the decode would materialise more than `shield_max_decoded_pixels`, so
only the exact hashes are computed (the answer is 422). Each mode runs in its own process; the
figure is the growth of its peak resident memory over the process before the work, and the wall
time of the work.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(mode: str, path: str) -> None:
    from orbweaver.signals import compute_exact_signals, compute_signals, decode_cost
    from orbweaver.web.settings import WebSettings

    bomb = Path(path).read_bytes()
    budget = WebSettings().shield_max_decoded_pixels
    compute_exact_signals(b"warm up")
    base = peak_mib()
    started = time.perf_counter()
    if mode == "before":
        compute_signals(bomb)
    else:
        cost = decode_cost(bomb)
        assert cost is not None and cost.decoded_pixels > budget
        compute_exact_signals(bomb)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": round(seconds, 4), "peak_growth_mib": round(peak_mib() - base)}))


def main() -> None:
    if len(sys.argv) == 3:
        one(sys.argv[1], sys.argv[2])
        return
    out = io.BytesIO()
    Image.new("RGB", (8000, 8000), (120, 130, 140)).save(out, "PNG")
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(out.getvalue())
        f.flush()
        run = {
            mode: json.loads(
                subprocess.run(
                    [sys.executable, "-m", "benchmarks.bench_shield_budget", mode, f.name],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for mode in ("before", "after")
        }
    run["load_average"] = os.getloadavg()
    run["upload_kib"] = round(len(out.getvalue()) / 1024)
    print(json.dumps(run, indent=1))


if __name__ == "__main__":
    main()
