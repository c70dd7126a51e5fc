"""Shield API benchmark (issue 7): lookups/s and latency of a live `orbweaver serve` on loopback.

    .venv/bin/python -m benchmarks.bench_shield [--sizes 1000000,10000000] [--quick]
        [--workers 2] [--duration 8] [--concurrency 8]

For each bank size it builds a SQLite store in a temporary directory with that many random PDQ
entries (bulk-inserted in hash order, so every index is appended to rather than shuffled), issues
an API key, starts `orbweaver serve --workers N` as a subprocess, waits until every worker reports
ready, then drives it with an httpx load generator (threads, same machine, bounded by time):

- baseline: `GET /status/live`, a FastAPI endpoint that does no lookup and no auth (framework
  and load-generator overhead: the ceiling any lookup endpoint can reach here);
- pdq-1 at concurrency 1 (pure latency) and at `--concurrency` (throughput): one hash a request,
  10% of them near copies (8 bits flipped) of bank entries, the rest random (misses);
- pdq-100: batches of 100 hashes (throughput in hashes/s);
- media: synthetic 640x480 JPEGs (gradients and shapes, ~40 KB), decoded and PDQ-hashed by the
  server.

The load generator shares the CPUs with the server, so its own cost is inside every figure.
Nothing but synthetic data is used; every byte stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import platform
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

from orbweaver.banks import create_bank
from orbweaver.clock import SettableClock
from orbweaver.store import open_store
from orbweaver.web.apikeys import create_client
from orbweaver.web.verdict import pdq_to_base64

INSERT_CHUNK = 250_000
HIT_SAMPLE = 2_000
Request = tuple[str, str, dict[str, object]]  # method, path, httpx keyword arguments


@dataclass
class Result:
    scenario: str
    concurrency: int
    requests: int
    seconds: float
    items_per_request: int
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        items = self.per_second * self.items_per_request
        return (
            f"{self.scenario:<10} c={self.concurrency:<3} {self.per_second:8.0f} req/s "
            f"{items:9.0f} lookups/s  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms"
            f"  errors {self.errors}"
        )


# --- building the bank ------------------------------------------------------------------------


def build_store(directory: Path, size: int, seed: int) -> tuple[str, str, np.ndarray]:
    """A migrated SQLite store with `size` random PDQ entries; returns (url, key, sample)."""
    db = directory / "orbweaver.db"
    url = f"sqlite:///{db}"
    clock = SettableClock(datetime(2026, 11, 29, tzinfo=UTC))
    store = open_store(url)
    bank_id = create_bank(store, clock, "bench", threshold=31).id
    key = create_client(store, clock, "bench")
    store.dispose()
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    # Sorting through an S32 view orders rows as bytes; the uint8 rows keep trailing zeros.
    hashes = raw[np.argsort(raw.view("S32").ravel(), kind="stable")]
    del raw
    sample = hashes[rng.choice(size, size=min(HIT_SAMPLE, size), replace=False)]
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    added = "2026-11-29 00:00:00.000000"
    for start in range(0, size, INSERT_CHUNK):
        text = hashes[start : start + INSERT_CHUNK].tobytes().hex()
        rows = (
            (bank_id, "pdq", text[i : i + 64], "csam_prepubescent", "bench", added)
            for i in range(0, len(text), 64)
        )
        con.executemany(
            "INSERT INTO bank_entry (bank_id, signal_type, signal, category, source, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        con.commit()
    con.close()
    return url, key, sample


# --- queries ----------------------------------------------------------------------------------


def near_copy(raw: bytes, rng: random.Random, bits: int = 8) -> str:
    value = int.from_bytes(raw, "big")
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def pdq_queries(sample: np.ndarray, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if rng.random() < 0.1:
            row = sample[rng.randrange(len(sample))]
            out.append(pdq_to_base64(near_copy(row.tobytes(), rng)))
        else:
            out.append(pdq_to_base64(rng.randbytes(32).hex()))
    return out


def synthetic_jpeg(seed: int, width: int = 640, height: int = 480) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width * 255, yy / height * 255, (xx + yy) / 4 % 255], axis=-1)
    image = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(20):
        x, y = int(rng.integers(width)), int(rng.integers(height))
        w, h = int(rng.integers(20, 200)), int(rng.integers(20, 200))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse([x, y, x + w, y + h], fill=fill)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, workers: int, directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "ORBWEAVER_DATABASE_URL": url,
        "ORBWEAVER_SHIELD_RATE_PER_MINUTE": "0",  # no limit: measure the service, not the bucket
        "ORBWEAVER_SHIELD_STALE_AFTER_S": "3600",
    }
    cmd = [sys.executable, "-m", "orbweaver.cli", "serve", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=directory)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 3600) -> float:
    """Seconds until /status answered 200 forty times in a row (every worker loaded)."""
    start = time.monotonic()
    streak = 0
    while streak < 40:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        if time.monotonic() - start > timeout:
            raise TimeoutError("server not ready")
        try:
            ok = httpx.get(f"{base}/status", timeout=5).status_code == 200
        except httpx.TransportError:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.2)
    return time.monotonic() - start


def server_rss_mib(proc: subprocess.Popen[bytes]) -> float:
    """Resident memory of the server and its worker processes."""
    total = 0
    pids = {proc.pid}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == proc.pid:
                pids.add(int(entry.name))
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# --- the load generator -----------------------------------------------------------------------


def drive(
    base: str,
    auth: tuple[str, str],
    scenario: str,
    requests: list[Request],
    items: int,
    concurrency: int,
    duration: float,
) -> Result:
    """`concurrency` threads, each with its own keep-alive connection, sending `requests`
    round-robin for `duration` seconds. (Sync clients in threads: the asyncio client showed a
    ~40 ms floor per request on loopback, which would have measured the client, not us.)"""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = itertools.count()
    stop = time.perf_counter() + duration

    def loop() -> None:
        nonlocal errors
        mine: list[float] = []
        failed = 0
        with httpx.Client(base_url=base, auth=auth, timeout=60) as client:
            client.get("/status/live")
            while time.perf_counter() < stop:
                method, path, kwargs = requests[next(counter) % len(requests)]
                t0 = time.perf_counter()
                response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
                mine.append(time.perf_counter() - t0)
                failed += response.status_code != 200
        with lock:
            latencies.extend(mine)
            errors += failed

    started = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return Result(
        scenario,
        concurrency,
        len(latencies),
        elapsed,
        items,
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
        errors,
    )


def scenarios(sample: np.ndarray, concurrency: int) -> list[tuple[str, int, int, list[Request]]]:
    singles: list[Request] = [
        ("POST", "/v1/pdq/", {"json": {"hashes": [h]}}) for h in pdq_queries(sample, 5000, 1)
    ]
    batch_hashes = pdq_queries(sample, 100 * 50, 2)
    batches: list[Request] = [
        ("POST", "/v1/pdq/", {"json": {"hashes": batch_hashes[i : i + 100]}})
        for i in range(0, len(batch_hashes), 100)
    ]
    images = [synthetic_jpeg(seed) for seed in range(20)]
    media: list[Request] = [
        ("POST", "/v1/media/", {"content": img, "headers": {"content-type": "image/jpeg"}})
        for img in images
    ]
    live: list[Request] = [("GET", "/status/live", {})]
    return [
        ("baseline", 1, concurrency, live),
        ("pdq-1", 1, 1, singles),
        ("pdq-1", 1, concurrency, singles),
        ("pdq-100", 100, concurrency, batches),
        ("media", 1, concurrency, media),
    ]


def in_process_rate(url: str, sample: np.ndarray, seconds: float) -> float:
    """Single-hash `Matcher.match_pdq` calls per second in this process (no HTTP)."""
    from orbweaver.banks.matcher import Matcher

    store = open_store(url, upgrade=False)
    matcher = Matcher(store)
    matcher.refresh()
    rng = random.Random(3)
    queries = [rng.randbytes(32).hex() for _ in range(2000)]
    done = 0
    stop = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < stop:
        matcher.match_pdq(queries[done % len(queries)])
        done += 1
    rate = done / (time.perf_counter() - start)
    store.dispose()
    return rate


def run_size(size: int, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_shield_") as tmp:
        directory = Path(tmp)
        t0 = time.monotonic()
        url, key, sample = build_store(directory, size, seed=size)
        built = time.monotonic() - t0
        db_mib = sum(p.stat().st_size for p in directory.glob("orbweaver.db*")) / 2**20
        print(f"\n== bank of {size:,} PDQ entries: built in {built:.0f} s ({db_mib:.0f} MiB)")
        if size <= args.in_process_max:
            print(f"in-process Matcher.match_pdq: {in_process_rate(url, sample, 3):.0f} lookups/s")
        proc, base = start_server(url, args.workers, directory)
        try:
            ready = wait_ready(base, proc)
            rss = server_rss_mib(proc)
            print(f"{args.workers} workers ready in {ready:.0f} s, server RSS {rss:.0f} MiB")
            username, secret = key.split(":")
            for name, items, conc, reqs in scenarios(sample, args.concurrency):
                result = drive(base, (username, secret), name, reqs, items, conc, args.duration)
                print(result.line(), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--quick", action="store_true", help="100k entries, 3 s per scenario")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--in-process-max", type=int, default=1_000_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.duration = [100_000], 3.0
    print(
        f"bench_shield {datetime.now(UTC):%Y-%m-%d} {platform.machine()} "
        f"{os.cpu_count()} cpus, Python {platform.python_version()}, workers {args.workers}, "
        f"{args.duration:.0f} s per scenario"
    )
    for size in sizes:
        run_size(size, args)


if __name__ == "__main__":
    main()
