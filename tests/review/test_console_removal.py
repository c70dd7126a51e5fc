"""A provider's removal curve and the report's breakdown by hosting country, in Debian's
Chromium (issue 20): the provider page shows its Table 1.0 row (Kaplan–Meier, as the report
rounds it) and its curve; the dashboard, the HTML report, the CSV and the JSON break removal
times down by the country RDAP gives for each noticed host. axe-core clean; screenshots to
docs/ with ORBWEAVER_UPDATE_DOCS=1."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from review_world import PASSWORD, World
from test_console_axe import RUN, axe_source, small_png
from test_review_browser import ARGS, CHROMIUM, login, serving

from orbweaver.reports import build_report, load_inputs
from orbweaver.review import add_user
from orbweaver.store.models import AttributionCache, Notice, Provider

pytestmark = pytest.mark.browser
HOSTS = {"files.example.test": "NL", "pics.example.test": "DE", "old.example.test": None}


def removal_world(world: World) -> int:
    """A provider with 12 sent notices: 8 removed after 0.5 to 4 days, 4 still online after
    6 days; its hosts registered in NL (6), DE (4) and one host with no country (2)."""
    now = world.clock.now()
    sent = now - timedelta(days=10)
    hosts = ["files.example.test"] * 6 + ["pics.example.test"] * 4 + ["old.example.test"] * 2
    with world.store.session() as s:
        provider = Provider(
            name="Example Hosting", service_type="hosting_provider", created_at=now, updated_at=now
        )
        s.add(provider)
        s.flush()
        for host, country in HOSTS.items():
            s.add(
                AttributionCache(
                    host=host, resolved_at=now, expires_at=now + timedelta(days=1), country=country
                )
            )
        for i, host in enumerate(hosts):
            removed = i % 3 != 2  # 8 of 12
            s.add(
                Notice(
                    url=f"http://{host}/{i}.jpg",
                    host=host,
                    provider_id=provider.id,
                    report_id=f"rep-{i:04d}",
                    category="csam_prepubescent",
                    rounds_sent=1,
                    created_at=sent,
                    first_sent_at=sent,
                    status="removed" if removed else "open",
                    removed_at=sent + timedelta(days=0.5 * (i + 1)) if removed else None,
                    last_online_at=None if removed else sent + timedelta(days=6),
                )
            )
        s.flush()
        return provider.id


def test_provider_curve_and_hosting_countries(sqlite_world: World, screenshot_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    source = axe_source()
    world = sqlite_world
    pid = removal_world(world)
    with world.store.session() as s:
        add_user(s, world.clock, "sam", "senior_analyst", PASSWORD)  # no TOTP enrolled
    row = build_report(load_inputs(world.store)).providers[0].as_detail()
    bad: list[str] = []
    with serving(world, review_totp_roles="") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(
            bypass_csp=True, viewport={"width": 1280, "height": 900}
        ).new_page()
        login(page, base, "sam")

        def axe(name: str) -> None:
            page.add_script_tag(content=source)
            result = page.evaluate(RUN)
            assert result["passed"] > 5
            bad.extend(f"{name}: {v}" for v in result["bad"])

        page.goto(f"{base}/console/providers/{pid}")
        page.wait_for_function("document.querySelector('img.curve').complete")
        assert page.evaluate("document.querySelector('img.curve').naturalWidth") > 300
        removal = page.inner_text("#removal + p")
        assert f"median {row['median_display']} days" in removal
        assert f"95% CI {row['median_ci_display']}" in removal
        assert "4 of 12 still online" in removal
        axe("provider")
        shot = screenshot_dir / "console-provider-removal.png"
        page.screenshot(path=str(shot), full_page=True)
        small_png(shot)

        page.goto(f"{base}/console/reports")
        table = page.locator("#countries ~ table").first
        cells = table.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [r.cells[0].innerText.replace(' †', ''), r.cells[1].innerText])"
        )
        assert cells == [["DE", "4"], ["NL", "6"], ["unknown", "2"]]
        axe("reports")

        html = page.request.get(f"{base}/console/reports/report.html").text()
        assert "By hosting country" in html
        listed = page.request.get(f"{base}/console/reports/by-country.csv").text()
        counts = {r["name"]: r["targeted"] for r in csv.DictReader(io.StringIO(listed))}
        assert counts == {"DE": "4", "NL": "6", "unknown": "2"}
        detail = page.request.get(f"{base}/console/reports/report-detail.json").json()
        assert {r["name"]: r["targeted"] for r in detail["by_country"]} == {
            "DE": 4,
            "NL": 6,
            "unknown": 2,
        }
        browser.close()
    assert not bad, "\n".join(bad)


def test_the_dashboard_is_the_exported_report(sqlite_world: World) -> None:
    """The dashboard and the downloaded HTML report are one rendering: the same text (figures,
    tables, rounding, notes, glossary) as a browser reads it, chart and links aside."""
    from playwright.sync_api import sync_playwright

    world = sqlite_world
    removal_world(world)
    with world.store.session() as s:
        add_user(s, world.clock, "sam", "senior_analyst", PASSWORD)
    with serving(world, review_totp_roles="") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        login(page, base, "sam")
        page.goto(f"{base}/console/reports")
        shown = " ".join(page.text_content("#report").split())  # type: ignore[union-attr]
        exported = page.request.get(f"{base}/console/reports/report.html").text()
        page.set_content(
            exported
        )  # the text, whatever the styles (the console's CSP drops its inline ones)
        assert " ".join(page.text_content("#report").split()) == shown  # type: ignore[union-attr]
        for text in (
            "Figure 1.0",
            "Table 1.0",
            "By hosting country",
            "Glossary",
            "Example Hosting",
        ):
            assert text in shown
        browser.close()


def test_tables_sort_by_any_column_with_aria_sort(
    sqlite_world: World, screenshot_dir: Path
) -> None:
    """A report table's headers are buttons: the first press sorts ascending, the next
    descending (numbers as numbers, "unknown" and "–" last), and the header says so in
    aria-sort; the keyboard works as the mouse does. axe-core clean after sorting."""
    from playwright.sync_api import sync_playwright

    source = axe_source()
    world = sqlite_world
    removal_world(world)
    with world.store.session() as s:
        add_user(s, world.clock, "sam", "senior_analyst", PASSWORD)
    with serving(world, review_totp_roles="") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()  # bypass_csp: for axe-core's injected script only
        login(page, base, "sam")
        page.goto(f"{base}/console/reports")
        table = page.locator("#countries ~ table").first

        def names() -> list[str]:
            cells = table.locator("tbody tr td:first-child").all_inner_texts()
            return [c.replace(" †", "") for c in cells]  # † marks small groups

        targeted = table.get_by_role("button", name="targeted", exact=True)
        header = table.locator("th", has=page.get_by_role("button", name="targeted", exact=True))
        assert header.get_attribute("aria-sort") is None
        targeted.click()
        assert names() == ["unknown", "DE", "NL"]  # 2, 4, 6 notices
        assert header.get_attribute("aria-sort") == "ascending"
        targeted.focus()
        page.keyboard.press("Enter")
        assert names() == ["NL", "DE", "unknown"]
        assert header.get_attribute("aria-sort") == "descending"
        by_country = page.get_by_role("button", name="hosting country", exact=True)
        country = table.locator("button", has_text="hosting country")
        country.click()
        assert names() == ["DE", "NL", "unknown"]
        assert header.get_attribute("aria-sort") is None  # one sorted column at a time
        assert table.locator("th", has=by_country).get_attribute("aria-sort") == "ascending"
        page.add_script_tag(content=source)
        result = page.evaluate(RUN)
        assert not result["bad"], result["bad"]
        shot = screenshot_dir / "console-reports-sorted.png"
        table.screenshot(path=str(shot))
        small_png(shot)

        page.goto(f"{base}/console/providers")  # the providers list sorts too
        assert page.get_by_role("button", name="Notices in flight").is_visible()
        browser.close()
