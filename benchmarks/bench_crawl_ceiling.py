"""The ceiling of any crawler on this machine (issue 4): fetch and fingerprint, nothing else.

    .venv/bin/python -m benchmarks.bench_crawl_ceiling [--images N] [--repeats N]

One process per core, each fetching its share of the bench's pictures from the bench's server
over one keep-alive `http.client` connection (the cheapest HTTP client in the standard library)
and fingerprinting them as the crawl does (signals + the eight dihedral PDQ hashes). No Scrapy,
no store, no frontier, no network policy: whatever a real crawler adds can only be slower. The
bar is `bench_crawl`'s (pure hashing on all cores). The server shares the cores, as in
`bench_crawl`.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import time

from benchmarks import bench_crawl as bench


def _worker(port: int, paths: list[str], queue: mp.Queue) -> None:
    from orbweaver.signals.blas import limit_blas_threads
    from orbweaver.signals.compute import compute_signals_dihedral

    limit_blas_threads(1)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    queue.put("ready")
    for path in paths:
        conn.request("GET", path)
        compute_signals_dihedral(conn.getresponse().read())
    queue.put("done")


def fetch_and_hash(port: int, count: int, processes: int) -> float:
    """Pictures per second from the moment every worker is ready to the last one done."""
    queue: mp.Queue = mp.Queue()
    paths = [f"/i/{i}.jpg" for i in range(count)]
    workers = [
        mp.Process(target=_worker, args=(port, paths[k::processes], queue))
        for k in range(processes)
    ]
    for w in workers:
        w.start()
    for _ in workers:
        queue.get()
    start = time.perf_counter()
    for _ in workers:
        queue.get()
    rate = count / (time.perf_counter() - start)
    for w in workers:
        w.join()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    images = [bench.jpeg(i) for i in range(args.images)]
    server, port = bench.start_server(bench.site(args.images // 20, 20, 1, images))
    try:
        bar = max(bench.pure_hashing_parallel(images, cores) for _ in range(2))
        best = max(fetch_and_hash(port, args.images, cores) for _ in range(args.repeats))
    finally:
        server.terminate()
    print(
        f"pure hashing on {cores} cores {bar:,.0f}/s; fetch + fingerprint in {cores} processes "
        f"{best:,.0f}/s; ratio {best / bar:.2f}"
    )


if __name__ == "__main__":
    main()
