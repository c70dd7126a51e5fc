"""A PostgreSQL restart while the crawler writes loses nothing (issue 13).

The crawl runs against a private PostgreSQL (never the machine's shared one). Half of a small
site is fetched and written, the server is stopped, the other half of the site is released and
fetched while the store is down, and the server is started again: every media, sighting,
detection, suspect and page visit of a fault-free crawl of the same site is there, the outage is
said once in the log and its end once.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import sqlalchemy as sa
from loopback import LoopbackHTTP, html, synthetic_png
from test_crawl_pipeline import known_bank

from orbweaver.store import Store, open_store
from orbweaver.store.models import CrawlPage, Detection, Media, Sighting, Suspect
from supervise.private_pg import PrivatePostgres

pytestmark = pytest.mark.slow

PAGES, PER_PAGE, OPEN_PAGES = 12, 10, 6  # pages from OPEN_PAGES on wait behind a gate


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.close()


def database(pg: PrivatePostgres) -> str:
    pg.ensure_up()
    name = f"crawl_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(pg.url).set(database=name).render_as_string(False)


class Site:
    """PAGES pages of PER_PAGE pictures each, every picture linked once; the first picture of
    the first page and one on a gated page are known. Gated pages wait for `gate`."""

    def __init__(self, http: LoopbackHTTP) -> None:
        self.http = http
        self.gate = threading.Event()
        self.gated: list[str] = []
        self.known: list[bytes] = []
        for p in range(PAGES):
            imgs = []
            for j in range(PER_PAGE):
                body = synthetic_png(1000 + p * PER_PAGE + j, size=48)
                path = f"/img/{p}-{j}.png"
                if p >= OPEN_PAGES:
                    self.gated.append(path)
                http.add(path, body, content_type="image/png")
                if (p, j) in ((0, 0), (PAGES - 1, 3)):
                    self.known.append(body)
                imgs.append(f'<img src="{path}">')
            page = html(*imgs).encode()
            if p >= OPEN_PAGES:
                http.add(f"/p{p}.html", handler=self._gated(page))
            else:
                http.add(f"/p{p}.html", page)
        http.add("/", html(*(f'<a href="/p{p}.html">{p}</a>' for p in range(PAGES))))

    def _gated(self, body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
        def handle(h: BaseHTTPRequestHandler) -> None:
            self.gate.wait(60)
            h.send_response(200)
            h.send_header("Content-Type", "text/html; charset=utf-8")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

        return handle

    def served(self) -> int:
        return sum(self.http.hits.get(path, 0) for path in self.gated)


def snapshot(store: Store) -> dict[str, set[tuple[str | None, ...]]]:
    """What a crawl recorded, without ids and times."""
    with store.session() as s:
        sightings = s.execute(
            sa.select(Sighting.url, Sighting.page_url, Media.sha256).join(Media)
        ).all()
        detections = s.execute(
            sa.select(Sighting.url, Detection.signal_type, Detection.category).join(Sighting)
        ).all()
        suspects = s.execute(sa.select(Sighting.url).join(Suspect)).all()
        pages = s.execute(sa.select(CrawlPage.url, CrawlPage.media_links)).all()
        media = s.execute(sa.select(Media.sha256, Media.pdq)).all()
    return {
        "sightings": {tuple(r) for r in sightings},
        "detections": {tuple(r) for r in detections},
        "suspects": {tuple(r) for r in suspects},
        "pages": {(u, str(n)) for u, n in pages},
        "media": {tuple(r) for r in media},
    }


def count_sightings(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(Sighting)) or 0)
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


ARGS = (
    *("--no-jobdir", "--hash-processes", "0", "--log-level", "INFO"),
    *("--concurrency", "16", "--per-host", "16"),
)


def test_a_database_restart_during_a_crawl_loses_no_batch(
    pg: PrivatePostgres, http: LoopbackHTTP, crawler
) -> None:
    site = Site(http)
    # the fault-free crawl of the same site, on the same server
    clean_url = database(pg)
    clean = open_store(clean_url)
    known_bank(clean, site.known)
    site.gate.set()
    run = crawler.run(http.url("/"), *ARGS, ORBWEAVER_DATABASE_URL=clean_url)
    assert run.returncode == 0, run.stderr + run.log
    expected = snapshot(clean)
    clean.dispose()
    assert len(expected["sightings"]) == PAGES * PER_PAGE
    assert len(expected["detections"]) == 2 and len(expected["pages"]) == PAGES

    # the same crawl, the server stopped once half the site is written
    site.gate = threading.Event()
    http.hits.clear()
    url = database(pg)
    store = open_store(url)
    known_bank(store, site.known)
    store.dispose()
    log = crawler.tmp / "outage.log"
    argv = crawler.command(
        "crawl", "--until-idle", "--no-progress", "--log-file", str(log), http.url("/"), *ARGS
    )
    proc = subprocess.Popen(
        argv,
        env=crawler.environ(ORBWEAVER_DATABASE_URL=url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait("the open half written", lambda: count_sightings(url) >= OPEN_PAGES * PER_PAGE)
        pg.stop()
        site.gate.set()
        _wait("gated pictures fetched while the store is down", lambda: site.served() >= 1)
        time.sleep(3.0)  # several flushes (every 0.5 s) meet the stopped server
        pg.start()
        _, stderr = proc.communicate(timeout=180)
    finally:
        site.gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pg.ensure_up()
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, stderr + text

    store = open_store(url)
    try:
        got = snapshot(store)
    finally:
        store.dispose()
    for kind, rows in expected.items():
        assert got[kind] == rows, f"{kind}: {len(rows - got[kind])} missing"
    # said once when it began and once when it ended, not once per attempt
    assert text.count("crawl: store writer (batch kept, fetching paused): Operational") == 1
    assert text.count("backing off") == 1, text
    assert "crawl: store writer (batch kept, fetching paused): resumed after" in text
    assert "store write failed" not in text
