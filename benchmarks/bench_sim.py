"""Simulated-internet benchmark (issue 3): requests/s the world serves, and its memory.

    .venv/bin/python -m benchmarks.bench_sim [--scenario scenarios/table-1.0.toml] [--scale 0.01]
                                              [--seconds 4] [--concurrency 16]

Starts the world in this process (its event loop in one thread, as `World.start` does), then runs a
bounded load generator in a separate process (so the two do not share a GIL): `concurrency`
keep-alive HTTP/1.1 connections on loopback, each sending its next request when the previous answer
is fully read, for a fixed time. Workloads: an image-host index page (rendered from world state each
time), one image (served from the byte cache after the first request), and for the baseline a bare
uvicorn "hello world" ASGI app on the same machine with the same client. RSS is the world process's
peak resident memory after start and after the load (ru_maxrss).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import resource
import time

from orbweaver.sim.scenario import SCENARIO_DIR


async def _worker(host: str, port: int, request: bytes, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            counts[0] += 1
    finally:
        writer.close()


def load(
    host: str, port: int, host_header: str, path: str, seconds: float, concurrency: int
) -> float:
    """Requests per second over `seconds`, from `concurrency` keep-alive connections."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\n\r\n".encode()

    async def main() -> float:
        counts = [0]
        deadline = time.monotonic() + seconds
        start = time.monotonic()
        await asyncio.gather(
            *(_worker(host, port, request, deadline, counts) for _ in range(concurrency))
        )
        return counts[0] / (time.monotonic() - start)

    return asyncio.run(main())


def load_in_child(*args: object) -> float:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return float(pool.apply(load, args))


async def hello_app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    assert scope["type"] == "http"
    await send(
        {
            "type": "http.response.start",
            "status": 200,  # type: ignore[operator]
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"12")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello world\n"})  # type: ignore[operator]


def run_uvicorn(port: int) -> None:
    import uvicorn

    uvicorn.run(hello_app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def baseline(seconds: float, concurrency: int) -> float:
    from orbweaver.sim.net import free_port

    port = free_port("127.0.0.1")
    server = multiprocessing.get_context("spawn").Process(
        target=run_uvicorn, args=(port,), daemon=True
    )
    server.start()
    try:
        for _ in range(100):
            try:
                with __import__("socket").create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        return load_in_child("127.0.0.1", port, "127.0.0.1", "/", seconds, concurrency)
    finally:
        server.terminate()
        server.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(SCENARIO_DIR / "table-1.0.toml"))
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    from orbweaver.sim import World

    t0 = time.monotonic()
    world = World.start(args.scenario, scale=args.scale, seed=args.seed)
    started = time.monotonic() - t0
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        site = next(s for s in world.catalogue.sites.values() if s.kind == "image_host")
        item = next(i for i in site.items if i.online(world.clock.now()))
        port = world.port
        assert site.ip is not None
        pages = load_in_child(site.ip, port, site.domain, "/", args.seconds, args.concurrency)
        images = load_in_child(
            site.ip, port, site.domain, item.path, args.seconds, args.concurrency
        )
        rss_end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        stats = world.stats()
    finally:
        world.stop()
    hello = baseline(args.seconds, args.concurrency)
    cores = multiprocessing.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(
        f"world: {args.scenario} scale {args.scale}: {stats['items']} placements, "
        f"{stats['sites']} sites; "
        f"start {started:.1f} s"
    )
    print(f"index page: {pages:8.0f} req/s  ({pages / hello:.2f} x baseline)")
    print(f"image:      {images:8.0f} req/s  ({images / hello:.2f} x baseline)")
    print(f"baseline uvicorn hello-world: {hello:8.0f} req/s")
    print(f"world RSS: {rss_start:.0f} MiB after start, {rss_end:.0f} MiB peak after load")


if __name__ == "__main__":
    main()
