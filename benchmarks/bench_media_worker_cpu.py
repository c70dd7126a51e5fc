"""One media worker in this process on a pre-filled queue (issue 15): CPU per media, split into
fingerprinting, the loop thread (HTTP client, matching, scheduling) and the rest (the store
writer and claims, in threads), and the time the process waited for a core.

    .venv/bin/python -m benchmarks.bench_media_worker_cpu [--images N] [--repeats N]

`bench_crawl`'s server (synthetic 640x480 JPEGs from memory on 127.0.0.1, its own process); the
queue is filled before the worker starts, so the page crawl is not in it. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import tempfile
import time

from benchmarks import bench_crawl as bench


def once(port: int, count: int) -> dict[str, float]:
    from orbweaver.clock import SystemClock
    from orbweaver.crawl.media import MediaWorker, run_delay_s
    from orbweaver.crawl.options import CrawlOptions
    from orbweaver.crawl.writer import SightingWriter
    from orbweaver.net import AsyncGuardedClient, NetworkPolicy, Resolver
    from orbweaver.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/w.db")
        opts = CrawlOptions(unmatched="full", media_in_flight=256, per_host_concurrency=64)
        tasks: list[dict[str, object]] = [
            {
                "url": f"http://127.0.0.1:{port}/i/{i}.jpg",
                "kind": "media",
                "page_url": None,
                "via_tor": False,
                "passwords": [],
            }
            for i in range(count)
        ]
        SightingWriter(store, SystemClock(), opts, "", lambda k, n: None).write([], [], tasks)
        policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=30)
        client = AsyncGuardedClient(policy, Resolver(), max_connections=256, user_agent="bench")
        worker = MediaWorker(opts, policy, client, store, SystemClock(), "", "bench")
        loop_cpu = 0.0

        async def main() -> None:
            nonlocal loop_cpu
            start = time.thread_time()
            await worker.run(lambda: True, lambda: False)
            loop_cpu = time.thread_time() - start
            await client.aclose()

        cpu0, wall0, wait0 = time.process_time(), time.perf_counter(), run_delay_s()
        asyncio.run(main())
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        waited = run_delay_s() - wait0
        store.dispose()
    media = max(1, worker.stats["media"])
    return {
        "media": worker.stats["media"],
        "media_per_s": round(media / wall, 1),
        "cpu_ms_per_media": round(1000 * cpu / media, 3),
        "fingerprint_cpu_ms_per_media": round(1000 * worker.cpu_s / media, 3),
        "outside_fingerprinting_cpu_ms_per_media": round(1000 * (cpu - worker.cpu_s) / media, 3),
        "loop_thread_cpu_ms_per_media": round(1000 * loop_cpu / media, 3),
        "waited_for_a_core_s": round(waited, 2),
        "wall_s": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from orbweaver.crawl.hashing import prepare_worker

    images = [bench.jpeg(i) for i in range(args.images)]
    server, port = bench.start_server(bench.site(max(1, args.images // 20), 20, 1, images))
    load_before = os.getloadavg()[0]
    try:
        prepare_worker()
        runs = [once(port, args.images) for _ in range(args.repeats)]
    finally:
        server.terminate()
    print(
        json.dumps(
            {
                "runs": runs,
                "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
