"""Media workers (issue 15): media/s against pure hashing on all cores, the media path inside
Scrapy in the same run, CPU per media outside fingerprinting, and a slow internet.

    .venv/bin/python -m benchmarks.bench_media_workers [--images N] [--repeats N]
        [--sizes 640x480,1920x1080] [--slow-images N]

`bench_crawl`'s site and server (synthetic JPEGs from memory on 127.0.0.1, one asyncio process),
crawled as `orbweaver crawl` does (`run_crawl` in a subprocess: policy, extraction, signals,
matching against a bank, the store writer on SQLite), once with media inside Scrapy (hashing
workers on all cores) and once with `--media-workers` one per core. The media rate runs from
the first media read to the last (`orbweaver/media_first_result_at`..`last_result_at` of the
workers; the pipeline's first..last item inside Scrapy), so process start-up is not counted.
The bar is pure hashing on all cores (`bench_crawl.pure_hashing_parallel`), measured before and
after, the better of the two. "CPU per media outside fingerprinting" is the workers' process
CPU time minus the CPU they spent fingerprinting, over the media, from each worker's first
media read to its last (start-up and loading the match index excluded; the page crawl's share
is not in it: a page of 20 media costs Scrapy one response).

The slow internet: the server waits 100 ms before every answer, and 1% of the pictures stall
10 s before theirs. The figure is media/s with workers against pure hashing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import tempfile
from pathlib import Path

from benchmarks import bench_crawl as bench
from orbweaver.store.vault import new_key


def serve_slow(
    routes: dict[str, bytes], ready: mp.Queue, latency: float, stall: float, share: float
) -> None:
    """`bench_crawl.serve` with `latency` before every answer, and `stall` seconds before the
    answer of a `share` of the pictures (chosen once, by path)."""
    rng = random.Random(15)
    stalled = {p for p in routes if p.startswith("/i/") and rng.random() < share}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                await asyncio.sleep(stall if path in stalled else latency)
                body = routes.get(path)
                ctype = b"image/jpeg" if path.startswith("/i/") else b"text/html"
                if body is None:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: "
                        + ctype
                        + b"\r\nContent-Length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
        ready.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def start_slow(routes: dict[str, bytes]) -> tuple[mp.Process, int]:
    ready: mp.Queue = mp.Queue()
    server = mp.Process(target=serve_slow, args=(routes, ready, 0.1, 10.0, 0.01), daemon=True)
    server.start()
    return server, ready.get(timeout=30)


def crawl(port: int, tmp: Path, known: list[bytes], workers: int) -> dict[str, float]:
    """One crawl; `workers` 0: media inside Scrapy (its hashing pool on all cores)."""
    cores = os.cpu_count() or 1
    extra = f", media_workers={workers}, media_in_flight=256" if workers else ""
    return _crawl_with(port, tmp, known, hash_processes=cores, extra=extra)


def _crawl_with(
    port: int, tmp: Path, known: list[bytes], *, hash_processes: int, extra: str
) -> dict[str, float]:
    import hashlib
    import subprocess
    import sys

    db = tmp / "bench.db"
    csv = tmp / "known.csv"
    csv.write_text(
        "signal_type,signal,category,source\n"
        + "".join(
            f"sha256,{hashlib.sha256(b).hexdigest()},csam_prepubescent,bench\n" for b in known
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    env.update(
        ORBWEAVER_DATABASE_URL=f"sqlite:///{db}",
        ORBWEAVER_CRAWL_ALLOW_NETWORKS="127.0.0.1/32",
        ORBWEAVER_SUSPECT_KEY=new_key(),  # a passphrase is refused since issue 14
        ORBWEAVER_DATA_DIR=str(tmp),
    )
    py = sys.executable
    for args in (["bank", "create", "bench"], ["bank", "import", "bench", str(csv)]):
        subprocess.run([py, "-m", "orbweaver.cli", *args], env=env, check=True, capture_output=True)
    code = (
        "import json\n"
        "from orbweaver.config import Settings\n"
        "from orbweaver.crawl.options import CrawlOptions\n"
        "from orbweaver.crawl.runner import run_crawl\n"
        "o=CrawlOptions(until_idle=True, depth_limit=20, concurrency=64, per_host_concurrency=64,"
        f" log_level='WARNING', max_pages_per_site=10**6, hash_processes={hash_processes}"
        f"{extra})\n"
        f"s=run_crawl(['http://127.0.0.1:{port}/'], o, Settings())\n"
        "st={k:(v if isinstance(v,(int,float)) else str(v)) for k,v in s.stats.items()}\n"
        "print('STATS'+json.dumps(st))\n"
    )
    done = subprocess.run([py, "-c", code], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(li for li in done.stdout.splitlines() if li.startswith("STATS"))
    return json.loads(line[5:])


def media_rate(st: dict[str, float]) -> float:
    if "orbweaver/media_first_result_at" in st:
        span = st["orbweaver/media_last_result_at"] - st["orbweaver/media_first_result_at"]
    else:
        span = st["orbweaver/last_item_at"] - st["orbweaver/first_item_at"]
    return st.get("orbweaver/media", 0) / max(span, 1e-9)


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return max(runs, key=media_rate)


def measure(
    size: tuple[int, int], count: int, repeats: int, slow: bool = False
) -> dict[str, object]:
    cores = os.cpu_count() or 1
    images = [bench.jpeg(i, size) for i in range(count)]
    routes = bench.site(max(1, count // 20), 20, 1, images)
    server, port = start_slow(routes) if slow else bench.start_server(routes)
    row: dict[str, object] = {"size": f"{size[0]}x{size[1]}", "images": count}
    try:
        bar = bench.pure_hashing_parallel(images, cores)
        with tempfile.TemporaryDirectory() as tmp:
            modes = {"workers": cores} if slow else {"workers": cores, "inside_scrapy": 0}
            for name, workers in modes.items():
                runs = []
                for i in range(repeats):
                    sub = Path(tmp) / f"{name}-{i}"
                    sub.mkdir()
                    runs.append(crawl(port, sub, images[::50], workers))
                st = best(runs)
                rate = media_rate(st)
                row[f"{name}_media_per_s"] = round(rate, 1)
                row[f"{name}_media"] = int(st.get("orbweaver/media", 0))
                row[f"{name}_sightings"] = int(st.get("orbweaver/sightings", 0))
                if workers:
                    # over the window first media read .. last, summed over the workers
                    media = max(1, int(st.get("orbweaver/window_media", 0)))
                    hashing = st.get("orbweaver/window_hash_cpu_s", 0)
                    outside = st.get("orbweaver/window_cpu_s", 0) - hashing
                    row["workers_cpu_ms_per_media_outside_fingerprinting"] = round(
                        1000 * outside / media, 3
                    )
                    row["workers_fingerprint_cpu_ms_per_media"] = round(1000 * hashing / media, 3)
                    row["workers_media_per_cpu_s"] = round(
                        media / max(st.get("orbweaver/window_cpu_s", 0), 1e-9), 1
                    )
                    # where the workers' wall clock went, summed over both (their window)
                    span = st.get("orbweaver/media_last_result_at", 0) - st.get(
                        "orbweaver/media_first_result_at", 0
                    )
                    row["workers_window_s"] = round(span, 2)
                    row["workers_cpu_s_in_window"] = round(st.get("orbweaver/window_cpu_s", 0), 2)
                    # runnable but waiting for a core (Linux schedstat): the machine's load
                    row["workers_waiting_for_a_core_s_in_window"] = round(
                        st.get("orbweaver/window_run_delay_s", 0), 2
                    )
                    row["load_average_at_end"] = round(os.getloadavg()[0], 2)
        bar = max(bar, bench.pure_hashing_parallel(images, cores))
    finally:
        server.terminate()
    row["pure_hashing_media_per_s_all_cores"] = round(bar, 1)
    for name in ("workers", "inside_scrapy"):
        if f"{name}_media_per_s" in row:
            row[f"ratio_{name}_vs_hashing"] = round(float(row[f"{name}_media_per_s"]) / bar, 2)  # type: ignore[arg-type]
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--large-images", type=int, default=200, help="at the largest size")
    parser.add_argument("--slow-images", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", default="640x480,1920x1080")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    sizes = [tuple(int(v) for v in part.split("x")) for part in args.sizes.split(",") if part]
    for i, size in enumerate(sizes):
        count = args.images if i == 0 else args.large_images
        rows.append(measure(size, count, args.repeats))  # type: ignore[arg-type]
    slow = measure((640, 480), args.slow_images, 1, slow=True) if args.slow_images else None
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "sizes": rows,
                "slow_internet_100ms_1pct_stall_10s": slow,
                "repeats": args.repeats,
                "load_average_before_after": [
                    round(load_before[0], 2),
                    round(os.getloadavg()[0], 2),
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
