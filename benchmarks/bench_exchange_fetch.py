"""Exchange fetch (issue 17): a million entries from the simulated NCMEC-shaped service into a
bank, against the bare HTTP transfer of the same bytes.

    .venv/bin/python -m benchmarks.bench_exchange_fetch [--entries 1000000] [--page 1000]
        [--store sqlite|URL] [--json OUT.json]

The service (`orbweaver.sim.hashsharing`, loopback, its own thread and event loop) shares
`--entries` entries of one synthetic PDQ each. Three runs over the same pages, in this order,
in one process:

- `bare`: the page bytes alone: each page requested with urllib (the same Basic auth, the
  same `next` paths, found by a string search, no XML parsing), read and dropped;
- `client`: python-threatexchange's NCMEC client through our `NcmecClient` (parsing every
  entry, mapping fingerprints), pages dropped: what the library costs;
- `fetch`: `orbweaver.exchanges.fetch` into a fresh store (every page a transaction with its
  checkpoint, bank entries and exchange entries written): what a fetch costs end to end.

`ratio` is each run's entries per second over `bare`'s (the share of the transfer's speed a
fetch keeps); `cpu_ratio` the same in CPU seconds of the process (steadier on a loaded
machine). The service runs in the same process (its serialisation shares the GIL and the
cores), so `bare` is the transfer of this service, not of a network. Load average before and
after every run is reported beside it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orbweaver.clock import SettableClock
from orbweaver.exchanges import ExchangeConfig, ExchangeSettings, build_client, fetch
from orbweaver.sim.hashsharing import HashSharing, Server
from orbweaver.store import open_store

START = datetime(2026, 1, 1, tzinfo=UTC)
NEXT = re.compile(rb"<next>([^<]*)</next>")


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _service(entries: int, page: int) -> HashSharing:
    svc = HashSharing(page_size=page)
    svc.add_many(
        ((f"e{i}", {"pdq": f"{i:016x}" * 4}, "A1") for i in range(1, entries + 1)), at=START
    )
    return svc


def bare(server: Server, end: datetime) -> tuple[int, int, float]:
    """Pages, bytes, seconds: the transfer alone."""
    auth = base64.b64encode(f"{server.service.user}:{server.service.password}".encode()).decode()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    path = f"/v2/entries?from={START.strftime(fmt)}&to={end.strftime(fmt)}"
    pages = size = 0
    started = time.perf_counter()
    while path:
        request = urllib.request.Request(
            server.url + path, headers={"Authorization": f"Basic {auth}"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
        pages += 1
        size += len(body)
        found = NEXT.search(body)
        path = found.group(1).decode().replace("&amp;", "&") if found else ""
    return pages, size, time.perf_counter() - started


def run(entries: int, page: int, store_url: str) -> dict[str, Any]:
    svc = _service(entries, page)
    clock = SettableClock(START + timedelta(days=1))
    out: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "entries": entries,
        "page": page,
    }
    with Server(svc) as server, tempfile.TemporaryDirectory() as tmp:
        cfg = ExchangeConfig(kind="ncmec", bank="bench", url=server.url, user=svc.user)
        settings = ExchangeSettings(
            exchange={"bench": cfg}, exchange_credentials={"bench": f"{svc.user}:{svc.password}"}
        )
        load, cpu = _load(), time.process_time()
        pages, size, seconds = bare(server, clock.now() - timedelta(seconds=5))
        out["bare"] = {
            "pages": pages,
            "bytes": size,
            "seconds": round(seconds, 2),
            "entries_per_s": round(entries / seconds),
            "mib_per_s": round(size / seconds / 2**20, 1),
            "cpu_s": round(time.process_time() - cpu, 1),
            "load_before_after": [load, _load()],
        }
        load, cpu = _load(), time.process_time()
        client = build_client("bench", cfg, settings)
        started = time.perf_counter()
        seen = sum(len(p.updates) for p in client.pages({}, clock.now()))
        seconds = time.perf_counter() - started
        assert seen == entries, (seen, entries)
        out["client"] = {
            "seconds": round(seconds, 2),
            "entries_per_s": round(entries / seconds),
            "cpu_s": round(time.process_time() - cpu, 1),
            "load_before_after": [load, _load()],
        }
        url = store_url if store_url != "sqlite" else f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = open_store(url)
        load, cpu = _load(), time.process_time()
        started = time.perf_counter()
        report = fetch(store, clock, "bench", cfg, build_client("bench", cfg, settings))
        seconds = time.perf_counter() - started
        assert report.error == "" and report.added == entries, report
        out["fetch"] = {
            "store": "sqlite" if store_url == "sqlite" else "postgresql",
            "seconds": round(seconds, 2),
            "entries_per_s": round(entries / seconds),
            "pages": report.pages,
            "cpu_s": round(time.process_time() - cpu, 1),
            "load_before_after": [load, _load()],
        }
        store.dispose()
    for name in ("client", "fetch"):
        out[name]["ratio"] = round(out[name]["entries_per_s"] / out["bare"]["entries_per_s"], 3)
        out[name]["cpu_ratio"] = round(out["bare"]["cpu_s"] / max(out[name]["cpu_s"], 0.1), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--store", default="sqlite", help="sqlite (a temporary file) or a URL")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.entries, args.page, args.store)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
