"""The Reports dashboard in the console: who may read it, what it shows, what it downloads.

Senior analysts and administrators read it; analysts and anonymous users are refused (the
route-guard tests in test_review_security.py cover these routes too, as they walk `app.routes`).
The data are synthetic notices to made-up providers. With ORBWEAVER_UPDATE_DOCS=1 the
screenshot test rewrites docs/reports-dashboard.png.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_world import World, totp_code
from web_helpers import browser, console_app

from orbweaver.reports import build_report, load_inputs
from orbweaver.store import Store
from orbweaver.store.models import (
    Bank,
    BankEntry,
    Detection,
    Media,
    Notice,
    NoticeItem,
    Provider,
    Sighting,
)

T0 = datetime(2021, 3, 1, 12, 0)
ROUTES = (
    "/console/reports",
    "/console/reports/curves.png",
    "/console/reports/report.json",
    "/console/reports/table-1.0.csv",
    "/console/reports/report.html",
)


@dataclass(frozen=True)
class Sent:
    """A notice to write: removed after `days`, or still online and last seen at `days`."""

    provider: str
    days: float
    removed: bool
    members: int = 1
    recidivist: bool = False
    tor: bool = False
    category: str = "csam_prepubescent"
    month: int = 0


def populate(store: Store, providers: dict[str, str], notices: Sequence[Sent]) -> None:
    """Providers (name -> service type) and their notices, each backed by real detections."""
    with store.session() as s:
        bank = s.scalars(sa.select(Bank).where(Bank.name == "synthetic")).first()
        if bank is None:
            bank = Bank(name="synthetic", created_at=T0)
            s.add(bank)
            s.flush()
        by_name = {p.name: p for p in s.scalars(sa.select(Provider))}
        for name, service_type in providers.items():
            if name not in by_name:
                by_name[name] = Provider(
                    name=name, service_type=service_type, created_at=T0, updated_at=T0
                )
                s.add(by_name[name])
        s.flush()
        entries: dict[str, BankEntry] = {}
        for sent in notices:
            if sent.category not in entries:
                entries[sent.category] = BankEntry(
                    bank_id=bank.id,
                    signal_type="sha256",
                    signal=uuid.uuid4().hex * 2,
                    category=sent.category,
                    added_at=T0,
                )
                s.add(entries[sent.category])
                s.flush()
            first_sent = T0 + timedelta(days=30 * sent.month)
            end = first_sent + timedelta(days=sent.days)
            notice = Notice(
                url=f"http://{uuid.uuid4().hex[:8]}.example.test/f",
                kind="archive" if sent.members > 1 else "media",
                host="example.test",
                network="clear",
                provider_id=by_name[sent.provider].id,
                report_id=str(uuid.uuid4()),
                category=sent.category,
                created_at=first_sent,
                first_sent_at=first_sent,
                status="removed" if sent.removed else "open",
                removed_at=end if sent.removed else None,
                last_online_at=None if sent.removed else end,
                recidivist=sent.recidivist,
                rounds_sent=1 + int(sent.days // 2),
                escalation_level=1 if sent.days > 7 else 0,
            )
            s.add(notice)
            s.flush()
            for _ in range(sent.members):
                digest = uuid.uuid4().hex
                media = Media(
                    sha256=digest * 2,
                    sha1=digest[:40].ljust(40, "0"),
                    md5=digest,
                    size_bytes=1,
                    first_seen_at=first_sent,
                )
                s.add(media)
                s.flush()
                sighting = Sighting(
                    media_id=media.id,
                    url=f"{notice.url}/{digest[:6]}.jpg",
                    host="example.test",
                    network="clear",
                    reached_from_tor=sent.tor,
                    seen_at=first_sent,
                )
                s.add(sighting)
                s.flush()
                detection = Detection(
                    sighting_id=sighting.id,
                    bank_entry_id=entries[sent.category].id,
                    signal_type="sha256",
                    category=sent.category,
                    detected_at=first_sent,
                )
                s.add(detection)
                s.flush()
                s.add(
                    NoticeItem(
                        notice_id=notice.id,
                        detection_id=detection.id,
                        media_id=media.id,
                        category=sent.category,
                    )
                )


SMALL = [
    Sent("FastHost", 0.5, True),
    Sent("FastHost", 1.5, True, recidivist=True),
    Sent("FastHost", 4.0, False),
    Sent("SlowCDN", 10.0, False, members=2, tor=True, category="csam_postpubescent"),
]


@pytest.fixture
def app(sqlite_world: World) -> Iterator[FastAPI]:
    world = sqlite_world
    for name, role in (("ana", "analyst"), ("sen", "senior_analyst"), ("adm", "administrator")):
        world.user(name, role)
    populate(world.store, {"FastHost": "hosting_provider", "SlowCDN": "cdn"}, SMALL)
    yield console_app(world)


def test_anonymous_users_are_sent_to_the_login_page(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    for path in ROUTES:
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/login?next=")
        assert "FastHost" not in answer.text


def test_analysts_are_refused_senior_analysts_and_administrators_allowed(app: FastAPI) -> None:
    analyst, _ = browser(app, "ana")
    for path in ROUTES:
        answer = analyst.get(path)
        assert answer.status_code == 403, path
        assert "FastHost" not in answer.text
    assert 'href="/console/reports"' not in analyst.get("/console/queue").text
    for name in ("sen", "adm"):
        client, _ = browser(app, name)
        for path in ROUTES:
            assert client.get(path).status_code == 200, (name, path)
        assert 'href="/console/reports"' in client.get("/console/queue").text


def test_dashboard_shows_providers_censoring_and_cadence(app: FastAPI, sqlite_world: World) -> None:
    client, _ = browser(app, "sen")
    page = client.get("/console/reports")
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    report = build_report(load_inputs(sqlite_world.store))
    figure = report.figure_1_0()
    assert "Figure 1.0" in html and "Table 1.0" in html
    assert figure["recheck_cadence"] in html
    assert html.count(figure["recheck_cadence"]) >= 2  # next to the figures and to the table
    for row in report.providers:
        detail = row.as_detail()
        assert f'">{row.name}</a>' in html  # linked to the provider's page
        assert f"</td><td>{row.service_type.replace('_', ' ')}</td>" in html
        for shown in (detail["median_display"], detail["p90_display"]):
            assert f'<td class="n">{escape(shown)}</td>' in html, (row.name, shown)
    # SlowCDN's only notice is still online at 10 days: its median is not reached.
    slow = next(r for r in report.providers if r.name == "SlowCDN")
    assert slow.removal.display("median") == "> 10.0"
    assert "&gt; 10.0" in html
    assert "1 (100%)" in html  # SlowCDN: still online, share
    assert "2 of 4 notices" in html  # censored overall
    assert "<h2>By category</h2>" in html and "csam_postpubescent" in html
    assert "reached from tor" in html and "clear web only" in html
    assert "<h2>By media type</h2>" in html  # issue 16: pictures and videos apart
    assert "2021-03" in html  # by month
    assert 'src="/console/reports/curves.png"' in html
    for path in ROUTES[2:]:
        assert f'href="{path}"' in html


def test_downloads(app: FastAPI, sqlite_world: World) -> None:
    client, _ = browser(app, "adm")
    expected = build_report(load_inputs(sqlite_world.store))
    answer = client.get("/console/reports/report.json")
    assert answer.headers["content-type"].startswith("application/json")
    assert 'filename="report.json"' in answer.headers["content-disposition"]
    assert answer.json() == expected.contract()
    table = client.get("/console/reports/table-1.0.csv")
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [(r["name"], r["targeted"], r["censored"]) for r in rows] == [
        ("FastHost", "3", "1"),
        ("SlowCDN", "1", "1"),
    ]
    chart = client.get("/console/reports/curves.png")
    assert chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG\r\n\x1a\n")
    report_html = client.get("/console/reports/report.html")
    assert 'filename="report.html"' in report_html.headers["content-disposition"]
    assert "data:image/png;base64," in report_html.text and "SlowCDN" in report_html.text


def test_new_notices_show_at_the_next_request(app: FastAPI, sqlite_world: World) -> None:
    client, _ = browser(app, "sen")
    assert "NewHost" not in client.get("/console/reports").text
    populate(sqlite_world.store, {"NewHost": "file_host"}, [Sent("NewHost", 2.0, True)])
    assert '">NewHost</a>' in client.get("/console/reports").text
    assert client.get("/console/reports/report.json").json()["summary"]["targeted"] == 5


def test_empty_store(sqlite_world: World) -> None:
    sqlite_world.user("sen", "senior_analyst")
    client, _ = browser(console_app(sqlite_world), "sen")
    for path in ROUTES:
        assert client.get(path).status_code == 200, path
    assert "No notices sent yet." in client.get("/console/reports").text


# --- The screenshot, in Debian's Chromium -------------------------------------------------------

PROVIDERS = {
    "Example Hosting": ("hosting_provider", 1.2, 0.10),
    "Example CDN": ("cdn", 3.0, 0.25),
    "Example Files": ("file_host", 6.0, 0.45),
    "Example Images": ("image_host", 14.0, 0.60),
}


def synthetic_notices(seed: int = 7) -> list[Sent]:
    """A few dozen notices per made-up provider, log-normal removal times, some still online."""
    rng = random.Random(seed)
    out = []
    for name, (_type, median, stuck) in PROVIDERS.items():
        for _ in range(36):
            month = rng.randrange(3)
            horizon = 90.0 - 30 * month
            days = median * rng.lognormvariate(0, 0.9)
            removed = rng.random() > stuck and days < horizon
            out.append(
                Sent(
                    name,
                    round(min(days, horizon) if removed else rng.uniform(5, horizon), 2),
                    removed,
                    members=3 if rng.random() < 0.08 else 1,
                    recidivist=rng.random() < 0.2,
                    tor=rng.random() < 0.15,
                    category=rng.choice(("csam_prepubescent", "csam_postpubescent")),
                    month=month,
                )
            )
    return out


@pytest.mark.browser
def test_dashboard_screenshot(sqlite_world: World, screenshot_dir: Path) -> None:
    import socket
    import threading
    import time

    import uvicorn
    from review_world import PASSWORD

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    world = sqlite_world
    world.user("sen", "senior_analyst")
    populate(world.store, {k: v[0] for k, v in PROVIDERS.items()}, synthetic_notices())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        console_app(world, plain_http=True), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as pw:
            chrome = pw.chromium.launch(
                executable_path=str(chromium),
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            page = chrome.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{base}/console/reports")
            page.fill("input[name=username]", "sen")
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=code]", totp_code(world.store, world.clock.now(), "sen"))
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/console/reports")
            page.wait_for_function("document.querySelector('img.curves').complete")
            assert page.evaluate("document.querySelector('img.curves').naturalWidth") > 500
            assert "Example Images" in page.content()
            page.click("nav >> text=Reports")
            page.wait_for_url(f"{base}/console/reports")
            page.screenshot(path=str(screenshot_dir / "reports-dashboard.png"), full_page=True)
            chrome.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
