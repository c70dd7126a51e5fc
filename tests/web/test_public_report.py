"""The public report form: no account, a proof of work checked server-side, a rate limit per
client address, a seed for the next crawl like `orbweaver submit`, and a reference number only.
The browser test drives it in Debian's Chromium (the page's script solves the proof)."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.store.models import CrawlSeed, Event
from orbweaver.web import create_app
from orbweaver.web.pow import ProofOfWork, leading_zero_bits, solve
from orbweaver.web.settings import WebSettings

BITS = 8


def _app(store: Store, clock: SettableClock, **kw: object) -> object:
    settings = WebSettings(report_pow_bits=BITS, report_pow_secret="s3cret", **kw)  # type: ignore[arg-type]
    return create_app(settings, store, clock)


def _zero_bits(challenge: str, counter: str) -> int:
    return leading_zero_bits(hashlib.sha256(f"{challenge}:{counter}".encode()).digest())


def _challenge(page: str) -> str:
    found = re.search(r'name=challenge value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _report(
    client: TestClient, url: str, *, solved: bool = True, headers: dict[str, str] | None = None
) -> object:
    challenge = _challenge(client.get("/report").text)
    counter = solve(challenge, BITS) if solved else "0"
    if not solved:  # a counter that does not solve it
        while (
            leading_zero_bits(
                __import__("hashlib").sha256(f"{challenge}:{counter}".encode()).digest()
            )
            >= BITS
        ):
            counter = str(int(counter) + 1)
    return client.post(
        "/report",
        data={"url": url, "challenge": challenge, "counter": counter, "note": "seen it"},
        headers=headers or {},
    )


def test_a_report_becomes_a_seed_and_the_reporter_gets_a_reference_only(
    sqlite_store: Store, clock: SettableClock
) -> None:
    with TestClient(_app(sqlite_store, clock)) as client:  # type: ignore[arg-type]
        page = client.get("/report")
        assert page.status_code == 200 and "/report/pow.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        sent = _report(client, "http://board.example.test/t/1")
        assert sent.status_code == 200  # type: ignore[attr-defined]
        reference = re.search(r"id=reference>(OW-[0-9A-F]{10})<", sent.text)  # type: ignore[attr-defined]
        assert reference
        again = _report(client, "http://board.example.test/t/1")  # known URL: same answer shape
        assert again.status_code == 200 and "known" not in again.text.lower()  # type: ignore[attr-defined]
    with sqlite_store.session() as s:
        seed = s.scalars(select(CrawlSeed)).one()
        assert seed.source == "report" and seed.url == "http://board.example.test/t/1"
        assert seed.reporter == f"public:{reference.group(1)}" and seed.note == "seen it"
        events = s.scalars(select(Event).where(Event.kind == "report.received")).all()
        assert [e.payload["new"] for e in events] == [True, False]


def test_proof_of_work_is_checked_server_side(sqlite_store: Store, clock: SettableClock) -> None:
    with TestClient(_app(sqlite_store, clock, report_rate_per_minute=0)) as client:  # type: ignore[arg-type]
        assert _report(client, "http://a.example.test/", solved=False).status_code == 400  # type: ignore[attr-defined]
        challenge = _challenge(client.get("/report").text)
        forged = challenge.rsplit(".", 1)[0] + "." + "0" * 32  # not our MAC
        bad = client.post(
            "/report", data={"url": "http://a.example.test/", "challenge": forged, "counter": "1"}
        )
        assert bad.status_code == 400 and "not issued here" in bad.text
        counter = solve(challenge, BITS)
        data = {"url": "http://a.example.test/", "challenge": challenge, "counter": counter}
        assert client.post("/report", data=data).status_code == 200
        replay = client.post("/report", data=data)
        assert replay.status_code == 400 and "already used" in replay.text
        old = _challenge(client.get("/report").text)
        clock.advance(timedelta(hours=1))
        late = {"url": "http://a.example.test/", "challenge": old, "counter": solve(old, BITS)}
        assert "expired" in client.post("/report", data=late).text
        assert (
            client.post("/report", data={**data, "url": "javascript:alert(1)"}).status_code == 400
        )
    with sqlite_store.session() as s:
        assert len(s.scalars(select(CrawlSeed)).all()) == 1


def test_easier_challenges_cannot_be_made() -> None:
    pow_ = ProofOfWork("k", 12, 60)
    challenge = pow_.challenge(1000.0)
    ts, nonce, _bits, mac = challenge.split(".")
    easy = f"{ts}.{nonce}.1.{mac}"
    with pytest.raises(ValueError):
        pow_.check(easy, solve(easy, 1), 1001.0)


def test_rate_limit_per_client_address(sqlite_store: Store, clock: SettableClock) -> None:
    app = _app(sqlite_store, clock, report_rate_per_minute=1, report_rate_burst=2)
    with TestClient(app, client=("203.0.113.7", 5000)) as one:  # type: ignore[arg-type]
        codes = [_report(one, f"http://a.example.test/{i}").status_code for i in range(3)]  # type: ignore[attr-defined]
        assert codes == [200, 200, 429]
        limited = _report(one, "http://a.example.test/x")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1  # type: ignore[attr-defined]
    with TestClient(app, client=("198.51.100.9", 5000)) as other:  # type: ignore[arg-type]
        assert _report(other, "http://a.example.test/y").status_code == 200  # type: ignore[attr-defined]
    with sqlite_store.session() as s:
        assert len(s.scalars(select(CrawlSeed)).all()) == 3


CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def server(sqlite_store: Store, clock: SettableClock) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        _app(sqlite_store, clock),
        host="127.0.0.1",
        port=port,
        log_level="warning",  # type: ignore[arg-type]
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
def test_the_form_in_a_browser(server: str, sqlite_store: Store) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context().new_page()
        page.goto(f"{server}/report")
        page.fill("input[name=url]", "http://forum.example.test/thread/9")
        page.wait_for_selector("#send:not([disabled])", timeout=30_000)  # the proof is done
        with page.expect_navigation():
            page.click("#send")
        reference = page.text_content("#reference")
        browser.close()
    assert reference and re.fullmatch(r"OW-[0-9A-F]{10}", reference)
    with sqlite_store.session() as s:
        seed = s.scalars(select(CrawlSeed)).one()
        assert seed.url == "http://forum.example.test/thread/9"
        assert seed.reporter == f"public:{reference}"
