"""Takedown throughput (issue 5): notices composed and delivered per second to a loopback SMTP
server (aiosmtpd), and re-checks per second against a loopback HTTP server.

Baselines, measured in the same run on the same data:
- notices: raw `smtplib` sends of already-built messages over one connection (no store, no
  composition, no validation): the ceiling the SMTP server itself allows;
- re-checks: raw `httpx` GETs of the same URLs with the same thread count (no policy, no store).

Usage: .venv/bin/python benchmarks/bench_takedown.py [--notices 2000] [--checks 2000]
Everything is synthetic: fingerprints are random hex, media bytes are random noise.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import smtplib
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from orbweaver.attribution import Attribution, ChainLink
from orbweaver.clock import SettableClock
from orbweaver.monitor import MonitorSettings, check_due
from orbweaver.net import GuardedFetcher, NetworkPolicy, Resolver
from orbweaver.notices import (
    NoticeSettings,
    SmtpWebhookTransport,
    build_email,
    deliver_due,
    make_on_sent,
    plan_notices,
)
from orbweaver.store import Store, open_store
from orbweaver.store.models import (
    Bank,
    BankEntry,
    Detection,
    Media,
    Notice,
    NoticeItem,
    Outbox,
    Provider,
    Sighting,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Count:
    def __init__(self) -> None:
        self.n = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.n += 1
        return "250 OK"


class _One:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def attribute(self, session: Session, host: str, network: str) -> Attribution:
        return Attribution(
            host,
            chain=[ChainLink("hosting_provider", self.pid, "BenchHost", "abuse@bench.test")],
            recipient_id=self.pid,
        )


def _hex(i: int, n: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()[:n]


def _detections(store: Store, now: datetime, n: int, url_of: object) -> int:
    with store.session() as s:
        bank = Bank(name="bench", created_at=now)
        p = Provider(
            name="BenchHost", abuse_email="abuse@bench.test", created_at=now, updated_at=now
        )
        s.add_all([bank, p])
        s.flush()
        for i in range(n):
            m = Media(
                sha256=_hex(i, 64),
                sha1=_hex(i, 40),
                md5=_hex(i, 32),
                pdq=None,
                size_bytes=1,
                first_seen_at=now,
            )
            e = BankEntry(
                bank_id=bank.id,
                signal_type="sha256",
                signal=m.sha256,
                category="csam_prepubescent",
                added_at=now,
            )
            s.add_all([m, e])
            s.flush()
            url = url_of(i)  # type: ignore[operator]
            sg = Sighting(media_id=m.id, url=url, host=url.split("/")[2].split(":")[0], seen_at=now)
            s.add(sg)
            s.flush()
            s.add(
                Detection(
                    sighting_id=sg.id,
                    bank_entry_id=e.id,
                    signal_type="sha256",
                    category="csam_prepubescent",
                    detected_at=now,
                )
            )
        return p.id


def bench_notices(n: int, db_url: str) -> dict[str, float]:
    store = open_store(db_url)
    clock = SettableClock(datetime(2021, 1, 1, tzinfo=UTC))
    handler = _Count()
    port = _free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        pid = _detections(
            store,
            clock.now().replace(tzinfo=None),
            n,
            lambda i: f"http://img{i % 50}.bench.test/{i}.jpg",
        )
        settings = NoticeSettings(
            smtp_host="127.0.0.1",
            smtp_port=port,
            notice_from="n@hotline.test",
            notice_domain="hotline.test",
            notify_batch_size=500,
        )
        t0 = time.perf_counter()
        with store.session() as s:
            plan_notices(s, clock, _One(pid), settings)
        t1 = time.perf_counter()
        with SmtpWebhookTransport(settings) as t:
            while deliver_due(store, clock, t, settings, on_sent=make_on_sent(settings)).sent:
                pass
        t2 = time.perf_counter()
        assert handler.n == n, (handler.n, n)
        # baseline: the same messages, pre-built, raw smtplib over one connection
        with store.session() as s:
            rows = s.query(Outbox).all()
            msgs = [
                build_email(
                    sender=settings.notice_from,
                    recipient=r.recipient,
                    subject=r.subject,
                    body=r.body,
                    xarf=r.xarf,
                    message_id=r.message_id,
                    date=clock.now(),
                )
                for r in rows
            ]
        t3 = time.perf_counter()
        smtp = smtplib.SMTP("127.0.0.1", port)
        for m in msgs:
            smtp.send_message(m)
        smtp.quit()
        t4 = time.perf_counter()
    finally:
        ctl.stop()
        store.dispose()
    return {
        "notices": n,
        "compose_per_s": n / (t1 - t0),
        "deliver_per_s": n / (t2 - t1),
        "end_to_end_per_s": n / (t2 - t0),
        "raw_smtplib_per_s": n / (t4 - t3),
    }


class _Serve(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = os.urandom(40_000)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *a: object) -> None:
        pass


def bench_checks(n: int, db_url: str) -> dict[str, float]:
    store = open_store(db_url)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"
    clock = SettableClock(datetime(2021, 1, 1, tzinfo=UTC))
    now = clock.now().replace(tzinfo=None)
    pid = _detections(store, now, n, lambda i: f"{base}/{i}.jpg")
    with store.session() as s:
        for det, sg in s.query(Detection, Sighting).join(Sighting).all():
            notice = Notice(
                url=sg.url,
                kind="media",
                host="127.0.0.1",
                provider_id=pid,
                report_id=_hex(det.id, 32),
                category=det.category,
                status="open",
                created_at=now,
                first_sent_at=now,
                next_check_at=now,
            )
            s.add(notice)
            s.flush()
            s.add(
                NoticeItem(
                    notice_id=notice.id,
                    detection_id=det.id,
                    media_id=sg.media_id,
                    category=det.category,
                )
            )
    settings = MonitorSettings(monitor_batch_size=500, monitor_concurrency=16)
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=10)
    fetcher = GuardedFetcher(policy, Resolver([]))
    clock.advance(timedelta(seconds=1))
    t0 = time.perf_counter()
    done = 0
    while True:
        got = check_due(store, clock, fetcher, settings).checked
        if not got:
            break
        done += got
    t1 = time.perf_counter()
    assert done == n
    urls = [f"{base}/{i}.jpg" for i in range(n)]
    client = httpx.Client(trust_env=False)
    t2 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda u: hashlib.sha256(client.get(u).content).hexdigest(), urls))
    t3 = time.perf_counter()
    client.close()
    fetcher.close()
    srv.shutdown()
    store.dispose()
    return {"checks": n, "checks_per_s": n / (t1 - t0), "raw_httpx_per_s": n / (t3 - t2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notices", type=int, default=2000)
    ap.add_argument("--checks", type=int, default=2000)
    ap.add_argument("--db", default="", help="store URL (default: a temp SQLite file)")
    args = ap.parse_args()
    from orbweaver.notices.xarf import fast_validator_for

    validator = "jsonschema-rs" if fast_validator_for() is not None else "jsonschema (pure Python)"
    print(f"X-ARF validator: {validator}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'n.db'}"
        n = bench_notices(args.notices, url)
        print(
            f"notices: {n['notices']}  compose {n['compose_per_s']:.0f}/s  deliver "
            f"{n['deliver_per_s']:.0f}/s  end-to-end {n['end_to_end_per_s']:.0f}/s  raw smtplib "
            f"{n['raw_smtplib_per_s']:.0f}/s  "
            f"ratio {n['end_to_end_per_s'] / n['raw_smtplib_per_s']:.2f}"
        )
        url = args.db or f"sqlite:///{Path(tmp) / 'c.db'}"
        c = bench_checks(args.checks, url)
        print(
            f"re-checks: {c['checks']}  {c['checks_per_s']:.0f}/s  raw httpx "
            f"{c['raw_httpx_per_s']:.0f}/s  ratio {c['checks_per_s'] / c['raw_httpx_per_s']:.2f}"
        )


if __name__ == "__main__":
    main()
