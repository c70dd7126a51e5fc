"""Every console page passes axe-core (the npm package, injected by Playwright into Debian's
Chromium) with no serious or critical violation of WCAG 2.1 A/AA (issue 20). `make axe`
installs axe-core into var/axe/; offline, these tests skip and say why. With
ORBWEAVER_UPDATE_DOCS=1 each page's screenshot goes to docs/ (synthetic images only)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from review_world import PASSWORD, World
from test_console_manager import notice_world
from test_review_browser import ARGS, CHROMIUM, seed, serving

from orbweaver.review import add_user

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "var/axe/node_modules/axe-core/axe.min.js"
RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
  });
  const bad = result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(" ")).join(", ")}`);
  return {bad, passed: result.passes.length};
}"""


def small_png(path: Path) -> None:
    """Screenshots for docs/ in 64 colours: a fraction of the bytes, still readable."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)


def axe_source() -> str:
    if not AXE.exists():
        subprocess.run(["bash", str(ROOT / "scripts/axe.sh")], cwd=ROOT, timeout=300, check=False)
    if not AXE.exists():
        pytest.skip("axe-core is not installed and npm could not install it (offline?): make axe")
    return AXE.read_text()


def test_every_console_page_passes_axe(sqlite_world: World, screenshot_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    source = axe_source()
    world = sqlite_world
    seed(world)
    ids = notice_world(world)
    with world.store.session() as s:
        add_user(s, world.clock, "admin", "administrator", PASSWORD)
    pages = {
        "queue": "/console/queue",
        "item": "/console/next",
        "settings": "/console/settings",
        "decisions": "/console/decisions",
        "adjudication": "/console/adjudication",
        "banks": "/console/banks",
        "providers": "/console/providers",
        "provider": f"/console/providers/{ids['provider']}",
        "notices": "/console/notices",
        "notice": f"/console/notices/{ids['notice']}",
        "search": "/console/search?q=board.example.test",
        "audit": "/console/audit",
        "users": "/console/users",
        "keys": "/console/keys",
        "password": "/console/password",
        "reports": "/console/reports",
        "exchanges": "/console/exchanges",
        "error": "/console/items/99999",
    }
    failures: list[str] = []
    with serving(world, review_totp_roles="") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
        page = context.new_page()

        def check(name: str) -> None:
            page.add_script_tag(content=source)
            result = page.evaluate(RUN)
            assert result["passed"] > 5, f"axe checked next to nothing on {name}"
            failures.extend(f"{name}: {v}" for v in result["bad"])
            shot = screenshot_dir / f"console-{name}.png"
            page.screenshot(path=str(shot))
            small_png(shot)

        page.goto(f"{base}/console/login")
        check("login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/console/queue")
        for name, path in pages.items():
            page.goto(base + path)
            if name == "item":
                page.wait_for_selector("#soft")
            check(name)
        browser.close()
    assert not failures, "\n".join(failures)
