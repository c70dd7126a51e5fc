"""Casework in the console (issue 19): holds added and released by senior analysts (audited,
CSRF-checked; analysts refused), and a notice's evidence page with its verification result and
the signed bundle to download. The records are WARC records of synthetic exchanges."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from review_world import World
from web_helpers import browser, console_app

from orbweaver.evidence import (
    Exchange,
    media_blob,
    new_signing_key,
    page_blob,
    page_capture,
    public_key_text,
    signing_key,
    verify_bundle,
)
from orbweaver.store.models import Event, EvidenceRecord, Hold, Notice, NoticeItem
from takedown.helpers import detect

T0 = datetime(2021, 3, 1, 12, 0)


def _notice_with_evidence(world: World) -> int:
    url, page_url = "http://files.example.test/a.jpg", "http://files.example.test/"
    with world.store.session() as s:
        d = detect(s, T0, url)
        n = Notice(
            url=url,
            kind="media",
            host="files.example.test",
            report_id="r-1",
            category=d.category,
            status="open",
            created_at=T0,
        )
        s.add(n)
        s.flush()
        s.add(NoticeItem(notice_id=n.id, detection_id=d.id, media_id=1, category=d.category))
        page = page_capture(
            Exchange(
                page_url,
                200,
                httpx.Headers({"User-Agent": "ow"}),
                httpx.Headers({"Content-Type": "text/html"}),
            ),
            b"<html><img src=a.jpg></html>",
            1 << 20,
        )
        media = Exchange(
            url,
            200,
            httpx.Headers({"User-Agent": "ow"}),
            httpx.Headers({"Content-Type": "image/jpeg"}),
        )
        for blob in (
            page_blob(page, T0),
            media_blob(media, {"sha256": "0" * 64, "size_bytes": 9}, T0),
        ):
            s.add(
                EvidenceRecord(
                    sighting_id=d.sighting_id,
                    kind=blob.kind,
                    url=blob.url,
                    captured_at=T0,
                    warc=blob.warc,
                    sha256=blob.sha256,
                    size_bytes=len(blob.warc),
                )
            )
        return n.id


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    k = new_signing_key()
    monkeypatch.setenv("ORBWEAVER_EVIDENCE_SIGNING_KEY", k)
    return k


def test_holds_page_adds_and_releases_audited(sqlite_world: World) -> None:
    sqlite_world.user("ana")
    sqlite_world.user("sen", "senior_analyst")
    app = console_app(sqlite_world)
    analyst, _ = browser(app, "ana")
    assert analyst.get("/console/holds").status_code == 403
    senior, csrf = browser(app, "sen")
    form = {
        "scope": "host",
        "value": "Files.Example.TEST",
        "reason": "police ref 7",
        "csrf_token": csrf,
    }
    assert senior.post("/console/holds", data={**form, "csrf_token": "forged"}).status_code == 403
    assert senior.post("/console/holds", data=form).status_code == 303
    bad = senior.post("/console/holds", data={**form, "scope": "planet"})
    assert bad.status_code == 400 and "scope must be one of" in bad.text
    page = senior.get("/console/holds")
    assert (
        "files.example.test" in page.text and "police ref 7" in page.text and "active" in page.text
    )
    with sqlite_world.store.session() as s:
        hold = s.scalars(sa.select(Hold)).one()
    assert (
        senior.post(f"/console/holds/{hold.id}/release", data={"csrf_token": csrf}).status_code
        == 303
    )
    with sqlite_world.store.session() as s:
        assert s.get_one(Hold, hold.id).released_by == "console:sen"
        actors = {
            e.kind: e.actor for e in s.scalars(sa.select(Event).where(Event.subject_type == "hold"))
        }
        assert actors == {"hold.added": "console:sen", "hold.released": "console:sen"}


def test_evidence_page_verifies_and_downloads_the_bundle(
    sqlite_world: World, key: str, tmp_path: Path
) -> None:
    notice_id = _notice_with_evidence(sqlite_world)
    sqlite_world.user("ana")
    sqlite_world.user("sen", "senior_analyst")
    app = console_app(sqlite_world)
    analyst, _ = browser(app, "ana")
    assert analyst.get(f"/console/notices/{notice_id}/evidence").status_code == 403
    senior, _ = browser(app, "sen")
    page = senior.get(f"/console/notices/{notice_id}/evidence")
    assert page.status_code == 200 and 'id="verified" class="ok"' in page.text, page.text
    zipped = senior.get(f"/console/notices/{notice_id}/evidence.zip")
    assert zipped.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(zipped.content)).extractall(tmp_path)
    folder = tmp_path / f"notice-{notice_id}"
    assert verify_bundle(folder, public_key_text(signing_key(key))).ok
    assert senior.get("/console/notices/999/evidence").status_code == 404

    with sqlite_world.store.session() as s:  # a record changed at rest, after capture
        row = s.scalars(sa.select(EvidenceRecord).where(EvidenceRecord.kind == "page")).one()
        data = bytearray(row.warc or b"")
        data[10] ^= 0xFF
        row.warc = bytes(data)
        assert hashlib.sha256(row.warc).hexdigest() != row.sha256
    page = senior.get(f"/console/notices/{notice_id}/evidence")
    assert "Verification FAILED" in page.text and "sha256 differs" in page.text


@pytest.mark.browser
def test_holds_and_evidence_pages_in_chromium_pass_axe(
    sqlite_world: World, key: str, screenshot_dir: Path
) -> None:
    """Issue 20's done-when for casework's pages: a hold added through the form in Debian's
    Chromium, and the holds and evidence pages axe-core clean (no serious or critical)."""
    from playwright.sync_api import sync_playwright
    from review_world import PASSWORD
    from test_console_axe import RUN, axe_source, small_png
    from test_review_browser import ARGS, CHROMIUM, login, serving

    from orbweaver.review import add_user

    notice_id = _notice_with_evidence(sqlite_world)
    with sqlite_world.store.session() as s:
        add_user(s, sqlite_world.clock, "sam", "senior_analyst", PASSWORD)
    source = axe_source()
    with serving(sqlite_world, review_totp_roles="") as base, sync_playwright() as pw:
        browser_ = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser_.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()  # bypass_csp: for axe-core's injected script only
        login(page, base, "sam")
        page.click("nav >> text=Holds")
        page.wait_for_url(f"{base}/console/holds")
        page.select_option("select[name=scope]", "host")
        page.fill("input[name=value]", "files.example.test")
        page.fill("input[name=reason]", "police ref 7")
        page.click("form[action='/console/holds'] button")
        page.wait_for_url(f"{base}/console/holds")
        assert "police ref 7" in page.inner_text("main")
        pages = {"holds": "/console/holds", "evidence": f"/console/notices/{notice_id}/evidence"}
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            page.add_script_tag(content=source)
            result = page.evaluate(RUN)
            assert result["passed"] > 5 and not result["bad"], (name, result["bad"])
            shot = screenshot_dir / f"console-{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            small_png(shot)
        assert page.locator("#verified.ok").count() == 1
        browser_.close()
