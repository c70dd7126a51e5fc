"""Evidence benchmark (issue 19): what WARC records cost the crawl.

    .venv/bin/python -m benchmarks.bench_evidence [--batches N] [--batch 200] [--hit-rate 0.1]

Measures, in the same run and on the same SQLite store (a fresh file per mode):
- the store writer (`SightingWriter.write`, what both crawl paths call) on batches of media
  items of which `--hit-rate` are detections, with evidence captures attached (headers by
  reference, the linking page's HTML) against the same batches without (the baseline);
- evidence bytes per detection (page record + media record, gzip'd WARC);
- what capturing costs per fetch when nothing is detected: building the `Exchange` and keeping
  the page in the bounded cache, against sha256 of a 100 KiB media body (work the crawl does
  for every fetch anyway).
Pages are synthetic benign HTML (~20 KiB of text and links); media are random bytes labelled
"known" by a synthetic bank entry. Best of the repeats, load printed beside the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import tempfile
import time
from pathlib import Path

import httpx

from orbweaver.banks.matcher import Match
from orbweaver.clock import SystemClock
from orbweaver.crawl.items import MediaItem
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.writer import SightingWriter
from orbweaver.evidence import Exchange, PageCache, page_capture
from orbweaver.signals import MediaSignals
from orbweaver.store import open_store, store_now
from orbweaver.store.models import Bank, BankEntry

REQUEST = httpx.Headers({"User-Agent": "orbweaver/1", "Accept": "*/*", "Host": "h.example"})
RESPONSE = httpx.Headers(
    {
        "Content-Type": "text/html; charset=utf-8",
        "Server": "nginx",
        "Date": "Fri, 04 Dec 2026 20:00:00 GMT",
        "Cache-Control": "max-age=60",
        "ETag": '"abc123"',
    }
)


def _html(rng: random.Random) -> bytes:
    links = "".join(
        f'<li><a href="/p/{rng.randrange(10**6)}.jpg">picture {i}</a></li>' for i in range(200)
    )
    vocabulary = ("lorem", "ipsum", "forum", "thread", "post")
    words = " ".join(rng.choice(vocabulary) for _ in range(1500))
    body = f"<body><p>{words}</p><ul>{links}</ul></body>"
    return f"<html><head><title>t</title></head>{body}</html>".encode()


def _items(n: int, hit_rate: float, entry_id: int, evidence: bool, seed: int) -> list[MediaItem]:
    rng = random.Random(seed)
    page_url = f"http://h{seed}.example/board"
    page = page_capture(Exchange(page_url, 200, REQUEST, RESPONSE), _html(rng), 1 << 20)
    out = []
    for i in range(n):
        data = rng.randbytes(4096)
        url = f"http://h{seed}.example/p/{i}.jpg"
        item = MediaItem(
            url=url,
            host=f"h{seed}.example",
            page_url=page_url,
            network="clear",
            reached_from_tor=False,
            data=data,
            signals=MediaSignals(
                hashlib.sha256(data).hexdigest(),
                hashlib.sha1(data).hexdigest(),
                hashlib.md5(data).hexdigest(),
                len(data),
                "image/jpeg",
            ),
        )
        if rng.random() < hit_rate:
            item.matches = [Match("b", 1, entry_id, "csam_prepubescent", "sha256", 0)]
        if evidence:
            item.exchange = Exchange(url, 200, REQUEST, RESPONSE)
            item.page = page
        out.append(item)
    return out


def _writer_seconds(
    batches: int, size: int, hit_rate: float, evidence: bool
) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'b.db'}")
        clock = SystemClock()
        with store.session() as s:
            bank = Bank(name="b", pdq_threshold=31, created_at=store_now(clock))
            s.add(bank)
            s.flush()
            entry = BankEntry(
                bank_id=bank.id,
                signal_type="sha256",
                signal="0" * 64,
                category="csam_prepubescent",
                added_at=store_now(clock),
            )
            s.add(entry)
            s.flush()
            entry_id = entry.id
        counts: dict[str, int] = {}
        writer = SightingWriter(
            store,
            clock,
            CrawlOptions(),
            "",
            lambda k, n: counts.__setitem__(k, counts.get(k, 0) + n),
        )
        all_items = [_items(size, hit_rate, entry_id, evidence, seed) for seed in range(batches)]
        start = time.perf_counter()
        for items in all_items:
            writer.write(items)
        elapsed = time.perf_counter() - start
        store.dispose()
    return elapsed, counts.get("detections", 0), counts.get("evidence_bytes", 0)


def _capture_cost(n: int) -> tuple[float, float]:
    rng = random.Random(1)
    html = _html(rng)
    body = rng.randbytes(100 * 1024)
    cache = PageCache(64 << 20)
    start = time.perf_counter()
    for i in range(n):
        ex = Exchange(f"http://h.example/{i}", 200, REQUEST, RESPONSE)
        if i % 20 == 0:  # one page for every 20 media fetches
            cache.put(f"http://h.example/p{i}", page_capture(ex, html, 1 << 20))
    capture = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        hashlib.sha256(body).digest()
    return capture, (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--hit-rate", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (2-core shared machine)")
    base = min(
        _writer_seconds(args.batches, args.batch, args.hit_rate, False)[0]
        for _ in range(args.repeats)
    )
    runs = [
        _writer_seconds(args.batches, args.batch, args.hit_rate, True) for _ in range(args.repeats)
    ]
    best = min(r[0] for r in runs)
    _, detections, evidence_bytes = runs[0]
    media = args.batches * args.batch
    print(
        f"writer, {media} media, {detections} detections: "
        f"baseline {base * 1e3 / media:.3f} ms/media, "
        f"with evidence {best * 1e3 / media:.3f} ms/media, ratio {best / base:.2f}"
    )
    print(
        f"evidence per detection: {evidence_bytes / max(detections, 1):,.0f} bytes "
        f"(page ~{len(_html(random.Random(0))):,} bytes of HTML before gzip)"
    )
    capture, sha = _capture_cost(20_000)
    print(
        f"capture per fetch (no detection): {capture * 1e6:.2f} µs, "
        f"= {capture / sha:.3f} × sha256 of a 100 KiB body ({sha * 1e6:.1f} µs)"
    )
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
