"""The wellbeing policy edited in Debian's Chromium (issue 20): administrators only, with a
reason, audited with before and after; stricter than the deployment's settings, never looser;
in force at once for analysts (locked blur, the cap on the item page). axe-core clean;
screenshot to docs/ with ORBWEAVER_UPDATE_DOCS=1."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from review_world import PASSWORD, World
from test_console_axe import RUN, axe_source, small_png
from test_review_browser import ARGS, CHROMIUM, login, seed, serving

from orbweaver.review import add_user
from orbweaver.store.models import AuditEntry

pytestmark = pytest.mark.browser


def test_an_administrator_sets_the_wellbeing_policy(
    sqlite_world: World, screenshot_dir: Path
) -> None:
    from playwright.sync_api import sync_playwright

    source = axe_source()
    world = sqlite_world
    seed(world)  # alice, an analyst, and items to review
    with world.store.session() as s:
        add_user(s, world.clock, "adm", "administrator", PASSWORD)
    with serving(world, review_totp_roles="") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()  # bypass_csp: for axe-core's injected script only
        login(page, base, "adm")
        page.goto(f"{base}/console/settings")
        # the administrators' form is on the page once, not also inside the <title>
        assert page.title().startswith("Wellbeing")
        assert "policy" not in page.title().lower()
        form = page.locator("form[action='/console/policy']")
        assert form.count() == 1
        form.locator("input[name=blur]").check()
        form.locator("input[name=cap_hours]").fill("1")
        form.locator("input[name=break_minutes]").fill("20")
        form.locator("input[name=reason]").fill("new wellbeing guidance")
        page.add_script_tag(content=source)
        result = page.evaluate(RUN)
        assert result["passed"] > 5 and not result["bad"], result["bad"]
        shot = screenshot_dir / "console-policy.png"
        page.screenshot(path=str(shot), full_page=True)
        small_png(shot)
        with page.expect_navigation():
            form.locator("button").click()
        policy = page.inner_text("#policy + ul")
        assert "Daily exposure cap: 60 minutes" in policy
        assert "Blur until revealed: enforced" in policy and "every 20 minutes" in policy

        csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
        looser = page.request.post(
            f"{base}/console/policy",
            form={"csrf_token": csrf, "cap_hours": "5", "break_minutes": "20", "reason": "more"},
        )
        assert looser.status == 409  # above the deployment's 4 hours
        no_reason = page.request.post(
            f"{base}/console/policy",
            form={"csrf_token": csrf, "cap_hours": "2", "break_minutes": "20"},
        )
        assert no_reason.status == 409

        alice = browser.new_page()
        login(alice, base, "alice")
        alice.goto(f"{base}/console/settings")
        assert "required by your organisation's policy" in alice.inner_text("main")
        assert alice.locator("form[action='/console/policy']").count() == 0
        alice_csrf = alice.locator("input[name=csrf_token]").first.get_attribute("value") or ""
        refused = alice.request.post(
            f"{base}/console/policy",
            form={"csrf_token": alice_csrf, "cap_hours": "4", "break_minutes": "0", "reason": "x"},
        )
        assert refused.status == 403
        alice.goto(f"{base}/console/next")
        alice.wait_for_selector("#soft")
        assert "of 60 min today" in alice.inner_text(".exposure")
        browser.close()
    with world.store.session() as s:
        rows = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "policy.changed")).all()
    assert len(rows) == 1 and rows[0].actor == "adm"
    detail = rows[0].detail
    assert detail["before"]["cap_hours"] == 4.0 and detail["before"]["blur"] is False
    assert detail["after"] == {
        "blur": True,
        "greyscale": False,
        "cap_hours": 1.0,
        "break_minutes": 20.0,
    }
    assert detail["reason"] == "new wellbeing guidance"
