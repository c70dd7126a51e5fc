"""The console in Debian's Chromium: log in, see a blurred greyscale image, reveal it, classify
it, a second analyst agrees, the verdict lands in the bank and earlier sightings become
detections. Screenshots go to docs/ with ORBWEAVER_UPDATE_DOCS=1 (synthetic images only)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from review_world import PASSWORD, World
from web_helpers import console_app

from orbweaver.store.models import Bank, BankEntry, Detection, Media, Suspect

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Reads pixels of an <img> through a canvas: is it greyscale, and how sharp is it?
PIXELS = """(id) => {
  const img = document.getElementById(id);
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let colour = 0, edge = 0;
  for (let i = 0; i < d.length - 4; i += 4) {
    colour = Math.max(colour, Math.abs(d[i] - d[i + 1]), Math.abs(d[i + 1] - d[i + 2]));
    edge = Math.max(edge, Math.abs(d[i] - d[i + 4]));
  }
  return {width: c.width, colour, edge};
}"""


@contextmanager
def serving(world: World, **review: object) -> Iterator[str]:
    """The console on a loopback port, for Chromium; yields its base URL."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        console_app(world, plain_http=True, **review),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(sqlite_world: World) -> Iterator[tuple[World, str]]:
    with serving(sqlite_world) as base:
        yield sqlite_world, base


def seed(world: World) -> str:
    """A few synthetic suspects; the first one also has an earlier sighting elsewhere."""
    world.detections_on("board.example.test", 12)
    media = world.media(1)
    world.sighting(media[0], "mirror.example.test")
    world.suspect(1, "board.example.test", media=media)
    for seed_ in range(2, 6):
        world.suspect(seed_, "files.example.test")
    world.user("alice")
    world.user("bob")
    with world.store.session() as s:
        return s.get_one(Media, media[0]).sha256


def login(page: object, base: str, username: str) -> None:
    page.goto(f"{base}/console/queue")  # type: ignore[attr-defined]
    assert "/console/login" in page.url  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/console/queue")  # type: ignore[attr-defined]


def test_two_analysts_classify_through_the_console(
    server: tuple[World, str], screenshot_dir: Path
) -> None:
    from playwright.sync_api import sync_playwright

    world, base = server
    sha256 = seed(world)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        alice = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        login(alice, base, "alice")
        assert "board.example.test has 12 detections" in alice.content()
        alice.screenshot(path=str(screenshot_dir / "review-queue.png"), full_page=True)

        alice.click("text=Review the next item")
        alice.wait_for_selector("#soft")
        alice.wait_for_function("document.getElementById('soft').complete")
        soft = alice.evaluate(PIXELS, "soft")
        assert soft["width"] > 0 and soft["colour"] == 0, "preview must be greyscale"
        alice.screenshot(path=str(screenshot_dir / "review-item.png"), full_page=True)

        alice.keyboard.press("r")  # one click (or key) reveals this one image
        alice.wait_for_selector("#clear")
        alice.wait_for_function("document.getElementById('clear').complete")
        clear = alice.evaluate(PIXELS, "clear")
        assert clear["colour"] > 100 and clear["edge"] > soft["edge"]

        alice.keyboard.press("s")
        # The page is already an item URL: wait for the decision's own navigation, not a URL
        # match, or the browser may close before the assessment is posted.
        alice.keyboard.press("1")  # csam_prepubescent, sex act: chosen, not yet recorded
        assert "Press Enter to record it" in alice.inner_text("#pending")
        with alice.expect_navigation():
            alice.keyboard.press("Enter")  # recorded; straight on to the next item

        bob = browser.new_context().new_page()
        login(bob, base, "bob")
        bob.click("text=Review the next item")
        bob.wait_for_selector("#soft")
        assert "board.example.test has 12 detections" in bob.content()
        bob.keyboard.press("s")
        bob.keyboard.press("1")
        with bob.expect_navigation():
            bob.keyboard.press("Enter")
        browser.close()

    with world.store.session() as s:
        hotline = s.scalars(sa.select(Bank.id).where(Bank.name == "hotline")).one()
        banked = s.scalars(
            sa.select(BankEntry.signal).where(
                BankEntry.bank_id == hotline, BankEntry.signal_type == "sha256"
            )
        ).all()
        assert banked == [sha256]
        detections = s.scalar(
            sa.select(sa.func.count(Detection.id))
            .join(BankEntry)
            .where(BankEntry.bank_id == hotline)
        )
        assert detections == 2  # the earlier mirror sighting and the suspect's own
        media_id = s.scalars(sa.select(Media.id).where(Media.sha256 == sha256)).one()
        assert s.scalars(
            sa.select(Suspect.ciphertext).where(Suspect.media_id == media_id)
        ).all() == [None]


def test_shortcuts_survive_a_click_confirm_and_can_be_turned_off(
    server: tuple[World, str], screenshot_dir: Path
) -> None:
    """After a mouse click on a severity the keys still work; a digit only chooses (Esc
    cancels, Enter records); "b" blurs a revealed image again; shortcuts can be turned off."""
    from playwright.sync_api import sync_playwright

    world, base = server
    seed(world)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        login(page, base, "alice")
        page.click("text=Review the next item")
        page.wait_for_selector("#soft")
        first = page.url
        page.keyboard.press("r")
        page.wait_for_selector("#clear")
        page.keyboard.press("b")  # blur again
        page.wait_for_selector("#soft")
        assert page.query_selector("#clear") is None

        page.click("text=sex act (s)")  # the mouse: focus is now on a radio button
        page.keyboard.press("3")
        assert "harmful-abusive" in page.inner_text("#pending")
        page.screenshot(path=str(screenshot_dir / "review-confirm.png"))
        page.keyboard.press("Escape")
        assert page.inner_text("#pending") == ""
        page.keyboard.press("Enter")  # nothing chosen: Enter on the radio records nothing
        page.wait_for_timeout(300)
        assert page.url == first
        page.keyboard.press("1")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url != first and "done=" in page.url
        assert "was recorded" in page.content()

        page.goto(f"{base}/console/settings")
        page.uncheck("input[name=shortcuts]")
        page.click("text=Save")
        page.wait_for_url(f"{base}/console/settings?saved=1")
        page.goto(f"{base}/console/next")
        page.wait_for_selector("#soft")
        page.keyboard.press("1")
        page.keyboard.press("r")
        page.wait_for_timeout(300)
        assert page.inner_text("#pending") == "" and page.query_selector("#clear") is None
        browser.close()


def test_the_exposure_cap_takes_a_revealed_image_off_the_screen(sqlite_world: World) -> None:
    from playwright.sync_api import sync_playwright

    seed(sqlite_world)
    # A cap of 8 s in 1-second heartbeats: room to reveal first on a loaded machine.
    review = {"review_exposure_cap_hours": 8 / 3600, "review_heartbeat_seconds": 1}
    with serving(sqlite_world, **review) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        login(page, base, "alice")
        page.click("text=Review the next item")
        page.wait_for_selector("#soft")
        page.keyboard.press("r")
        page.wait_for_selector("#clear")
        page.wait_for_selector("#clear", state="detached", timeout=30_000)
        assert "taken off the screen" in page.inner_text("#media")
        assert page.query_selector("#reveal") is None
        browser.close()


# Chromium keeps a headless page "visible": these make the page believe it is hidden (another
# tab, a minimised window, a locked screen) or visible again, as a real browser would say.
VISIBILITY = """(state) => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => state !== 'visible'});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_a_hidden_tab_is_not_charged_as_exposure(sqlite_world: World) -> None:
    """The heartbeat is sent while the item page is visible and never while it is hidden. (Its
    filter was an hx-trigger expression, which htmx evaluates with eval: under the console's
    allowEval=false and CSP that filter was always true, so a hidden tab was charged.)"""
    from playwright.sync_api import sync_playwright

    seed(sqlite_world)
    review = {"review_heartbeat_seconds": 1}
    with serving(sqlite_world, **review) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        login(page, base, "alice")
        page.click("text=Review the next item")
        page.wait_for_selector("#soft")
        beats: list[str] = []
        page.on("request", lambda r: beats.append(r.url) if r.url.endswith("/exposure") else None)
        with page.expect_request("**/console/exposure"):
            pass  # visible: the heartbeat runs
        page.evaluate(VISIBILITY, "hidden")
        sent = len(beats)
        page.wait_for_timeout(3500)  # three and a half heartbeats while hidden
        assert len(beats) == sent, "a hidden page must not be charged exposure"
        page.evaluate(VISIBILITY, "visible")
        with page.expect_request("**/console/exposure"):
            pass  # visible again: charged again
        browser.close()
