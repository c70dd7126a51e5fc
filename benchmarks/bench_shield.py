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

The load generator shares the CPUs with the server, so its own cost is inside every figure; to
tell the service from it, each scenario also reports the latency inside the server (the app's
`Server-Timing` header: request in to answer out, no network and no client), the server's CPU
time per request (all workers, from /proc, independent of how the cores were shared), the load
generator's CPU time, and the load average.
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

from orbweaver.access import create_client
from orbweaver.banks import create_bank
from orbweaver.clock import SettableClock
from orbweaver.store import open_store
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
    server_p50_ms: float = 0.0
    server_p99_ms: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    load: float = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        items = self.per_second * self.items_per_request
        return (
            f"{self.scenario:<10} c={self.concurrency:<3} {self.per_second:8.0f} req/s "
            f"{items:9.0f} lookups/s  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms"
            f"  errors {self.errors}  in server p50 {self.server_p50_ms:.1f} ms "
            f"p99 {self.server_p99_ms:.1f} ms, server CPU {self.server_cpu_ms:.2f} ms/req "
            f"({self.per_server_cpu_s:.0f} lookups/CPU-s), client CPU {self.client_cpu_s:.1f} s, "
            f"load {self.load:.1f}"
        )

    @property
    def server_cpu_ms(self) -> float:
        """Server CPU (all workers, user + system) per request: independent of the load."""
        return 1000 * self.server_cpu_s / max(self.requests, 1)

    @property
    def per_server_cpu_s(self) -> float:
        return self.requests * self.items_per_request / max(self.server_cpu_s, 1e-9)


# --- building the bank ------------------------------------------------------------------------


def build_store(directory: Path, size: int, seed: int) -> tuple[str, str, np.ndarray]:
    """A migrated SQLite store with `size` random PDQ entries; returns (url, key, sample).

    The store and a sample of its hashes are kept in `directory` (under /tmp, never committed)
    and reused by later runs of the same size and seed; each run issues itself a fresh key.
    """
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / f"bank_{size}_{seed}.db"
    sample_file = directory / f"bank_{size}_{seed}.sample.npy"
    url = f"sqlite:///{db}"
    clock = SettableClock(datetime(2026, 11, 29, tzinfo=UTC))
    if not (db.exists() and sample_file.exists()):
        for stale in (db, sample_file):
            stale.unlink(missing_ok=True)
        sample = _fill_store(db, url, clock, size, seed)
        np.save(sample_file, sample)
    sample = np.load(sample_file)
    store = open_store(url)  # migrates a cached store built before a schema change
    key = create_client(store, clock, f"bench-{time.time_ns()}")
    store.dispose()
    return url, key, sample


def _fill_store(db: Path, url: str, clock: SettableClock, size: int, seed: int) -> np.ndarray:
    """Bulk insert in one transaction through the raw sqlite3 connection, in hash order."""
    store = open_store(url)
    bank_id = create_bank(store, clock, "bench", threshold=31).id
    store.dispose()
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    # Sorting through an S32 view orders rows as bytes; the uint8 rows keep trailing zeros.
    hashes = raw[np.argsort(raw.view("S32").ravel(), kind="stable")]
    del raw
    sample = hashes[rng.choice(size, size=min(HIT_SAMPLE, size), replace=False)]
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    added = "2026-11-29 00:00:00.000000"
    con.execute("BEGIN")
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
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    return sample


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


def server_pids(proc: subprocess.Popen[bytes]) -> set[int]:
    """The server process and its worker processes."""
    pids = {proc.pid}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == proc.pid:
                pids.add(int(entry.name))
    return pids


def server_rss_mib(proc: subprocess.Popen[bytes]) -> float:
    """Resident memory of the server and its worker processes."""
    total = 0
    for pid in server_pids(proc):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def server_cpu_s(pids: set[int]) -> float:
    """User + system CPU seconds the server processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the load generator -----------------------------------------------------------------------


def drive(
    base: str,
    auth: tuple[str, str],
    scenario: str,
    requests: list[Request],
    items: int,
    concurrency: int,
    duration: float,
    pids: set[int],
) -> Result:
    """`concurrency` threads, each with its own keep-alive connection, sending `requests`
    round-robin for `duration` seconds. (Sync clients in threads: the asyncio client showed a
    ~40 ms floor per request on loopback, which would have measured the client, not us.)"""
    latencies: list[float] = []
    in_server: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = itertools.count()
    stop = time.perf_counter() + duration

    def loop() -> None:
        nonlocal errors
        mine: list[float] = []
        timed: list[float] = []
        failed = 0
        with httpx.Client(base_url=base, auth=auth, timeout=60) as client:
            client.get("/status/live")
            while time.perf_counter() < stop:
                method, path, kwargs = requests[next(counter) % len(requests)]
                t0 = time.perf_counter()
                response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
                mine.append(time.perf_counter() - t0)
                failed += response.status_code != 200
                timing = response.headers.get("server-timing", "")
                if timing.startswith("app;dur="):
                    timed.append(float(timing.removeprefix("app;dur=")))
        with lock:
            latencies.extend(mine)
            in_server.extend(timed)
            errors += failed

    started = time.perf_counter()
    cpu0, client0 = server_cpu_s(pids), time.process_time()
    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu, client = server_cpu_s(pids) - cpu0, time.process_time() - client0
    ms = np.asarray(latencies) * 1000
    app_ms = np.asarray(in_server or [0.0])
    return Result(
        scenario,
        concurrency,
        len(latencies),
        elapsed,
        items,
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
        errors,
        float(np.percentile(app_ms, 50)),
        float(np.percentile(app_ms, 99)),
        cpu,
        client,
        os.getloadavg()[0],
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


def in_process_rates(url: str, seconds: float) -> str:
    """`Matcher` in this process (no HTTP): load time, single and batched lookups per second."""
    from orbweaver.banks.matcher import Matcher

    store = open_store(url, upgrade=False)
    matcher = Matcher(store)
    t0 = time.perf_counter()
    matcher.refresh()
    loaded = time.perf_counter() - t0
    rng = random.Random(3)
    queries = [rng.randbytes(32).hex() for _ in range(2000)]
    matcher.match_pdq_many(queries[:100])  # compile the kernels outside the timing
    rates = []
    for batch in (1, 100):
        done = 0
        start, cpu0 = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            k = done % (len(queries) - batch + 1)
            if batch == 1:
                matcher.match_pdq(queries[k])
            else:
                matcher.match_pdq_many(queries[k : k + batch])
            done += batch
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        rates.append(f"{done / wall:.0f} ({done / cpu:.0f} by CPU)")
    store.dispose()
    return f"loaded in {loaded:.1f} s; single {rates[0]}, batch of 100 {rates[1]} lookups/s"


def run_size(size: int, args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    url, key, sample = build_store(Path(args.cache), size, seed=size)
    built = time.monotonic() - t0
    db_mib = Path(url.removeprefix("sqlite:///")).stat().st_size / 2**20
    print(f"\n== bank of {size:,} PDQ entries: store ready in {built:.0f} s ({db_mib:.0f} MiB)")
    if size <= args.in_process_max:
        print(f"in-process Matcher: {in_process_rates(url, 3)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_shield_") as tmp:
        proc, base = start_server(url, args.workers, Path(tmp))
        try:
            ready = wait_ready(base, proc)
            rss = server_rss_mib(proc)
            print(f"{args.workers} workers ready in {ready:.0f} s, server RSS {rss:.0f} MiB")
            pids = server_pids(proc)
            username, secret = key.split(":")
            for name, items, conc, reqs in scenarios(sample, args.concurrency):
                result = drive(
                    base, (username, secret), name, reqs, items, conc, args.duration, pids
                )
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
    parser.add_argument("--in-process-max", type=int, default=10_000_000)
    parser.add_argument(
        "--cache",
        default=os.path.join(tempfile.gettempdir(), "orbweaver_bench_shield"),
        help="where bank stores are kept between runs (delete to rebuild)",
    )
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
