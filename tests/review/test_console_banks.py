"""Bank import and export in Debian's Chromium (issue 20): administrators only, each with a
reason and a confirmation, each audited; the import's result is shown on the page. axe-core
clean; screenshot to docs/ with ORBWEAVER_UPDATE_DOCS=1. The hashes are of benign strings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from review_world import PASSWORD, World
from test_console_axe import RUN, axe_source, small_png
from test_review_browser import ARGS, CHROMIUM, login, serving

from orbweaver.banks import ensure_bank
from orbweaver.review import add_user
from orbweaver.store.models import AuditEntry

pytestmark = pytest.mark.browser


def hash_list(tmp_path: Path) -> Path:
    """Three valid rows (sha256 of benign strings) and one malformed one."""
    rows = ["signal_type,signal,category,source"]
    for i in range(3):
        digest = hashlib.sha256(f"benign test picture {i}".encode()).hexdigest()
        rows.append(f"sha256,{digest},csam_prepubescent,partner hotline")
    rows.append("sha256,not-a-hash,csam_prepubescent,partner hotline")
    path = tmp_path / "partner.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_an_administrator_imports_and_exports_a_bank(
    sqlite_world: World, screenshot_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    source = axe_source()
    world = sqlite_world
    ensure_bank(world.store, world.clock, "partner")
    with world.store.session() as s:
        add_user(s, world.clock, "adm", "administrator", PASSWORD)
        add_user(s, world.clock, "sam", "senior_analyst", PASSWORD)
    csv_file = hash_list(tmp_path)
    with serving(world, review_totp_roles="") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()  # bypass_csp: for axe-core's injected script only
        login(page, base, "adm")
        page.goto(f"{base}/console/banks")
        row = page.locator("tr", has_text="partner")
        row.locator("summary", has_text="Import").click()
        form = row.locator("form[action$='/import']")
        form.locator("input[type=file]").set_input_files(str(csv_file))
        form.locator("input[name=reason]").fill("partner hotline's weekly list")
        form.locator("button").click()  # the confirmation box is required: nothing is sent
        assert page.url == f"{base}/console/banks"
        form.locator("input[name=checked]").check()
        page.add_script_tag(content=source)
        result = page.evaluate(RUN)
        assert result["passed"] > 5 and not result["bad"], result["bad"]
        shot = screenshot_dir / "console-banks-import.png"
        page.screenshot(path=str(shot))
        small_png(shot)
        with page.expect_navigation():
            form.locator("button").click()
        assert "Imported into partner: 3 added, 0 already there, 1 rejected" in page.inner_text(
            "[role=status]"
        )

        row = page.locator("tr", has_text="partner")
        row.locator("summary", has_text="Export").click()
        export = row.locator("form[action$='/export']")
        export.locator("input[name=reason]").fill("shared with a partner hotline")
        with page.expect_download() as download:
            export.locator("button").click()
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0] == "signal_type,signal,category,source" and len(lines) == 4

        # The server refuses what the form would not send: no confirmation, no reason.
        csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
        refused = page.request.post(
            f"{base}/console/banks/partner/import",
            multipart={
                "csrf_token": csrf or "",
                "reason": "x",
                "file": {"name": "a.csv", "mimeType": "text/csv", "buffer": csv_file.read_bytes()},
            },
        )
        assert refused.status == 409
        no_reason = page.request.post(
            f"{base}/console/banks/partner/export", form={"csrf_token": csrf or ""}
        )
        assert no_reason.status == 409

        senior = browser.new_page()
        login(senior, base, "sam")
        senior.goto(f"{base}/console/banks")
        assert senior.locator("form[action$='/import']").count() == 0  # not offered
        browser.close()
    with world.store.session() as s:
        rows = s.execute(
            sa.select(AuditEntry.action, AuditEntry.actor, AuditEntry.detail)
            .where(AuditEntry.action.in_(["bank.imported", "bank.exported"]))
            .order_by(AuditEntry.id)
        ).all()
    assert [(a, who) for a, who, _ in rows] == [("bank.imported", "adm"), ("bank.exported", "adm")]
    imported, exported = rows[0][2], rows[1][2]
    assert imported["added"] == 3 and imported["rejected"] == 1
    assert imported["reason"] == "partner hotline's weekly list"
    assert exported["entries"] == 3 and exported["reason"] == "shared with a partner hotline"
