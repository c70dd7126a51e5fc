"""Calibration (issue 18): under the practice that produced Table 1.0 (a first notice, then one
every 24 hours until the content is gone, no escalation), a world built from the scenario
reproduces every provider's removal median and p90 within 25% and its recidivism within 5 points
over the report's three years. Other practices are departures from that baseline."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from typer.testing import CliRunner

from orbweaver.sim import practice, scenario
from orbweaver.sim.commands import sim_app
from orbweaver.sim.scenario import SCENARIO_DIR

SCENARIOS = SCENARIO_DIR
TABLE = SCENARIOS / "table-1.0.csv"
YEARS_3 = 1095.0
# The scale `sim calibrate` runs at by default: ~4,600 originals, the smallest provider (OVHcloud)
# ~63 of them. A few seconds.
SCALE = 0.01


def misses(result: dict[str, Any]) -> list[str]:
    """Every figure outside the issue's bounds: 25% on median and p90, 5 points on recidivism."""
    out = []
    for row in result["providers"]:
        want = row["scenario"]
        for key in ("removal_median_days", "removal_p90_days"):
            got = row[key]
            if got is None or abs(got / want[key] - 1.0) > 0.25:
                out.append(f"{row['name']}: {key} {got} vs {want[key]}")
        if abs(row["recidivism_rate"] - want["recidivism_rate"]) > 0.05:
            out.append(
                f"{row['name']}: recidivism {row['recidivism_rate']} vs {want['recidivism_rate']}"
            )
    return out


@pytest.fixture(scope="module")
def arachnid() -> dict[str, Any]:
    return practice.calibrate(SCENARIOS / "table-1.0.toml", SCALE, YEARS_3, seed=1)


@pytest.mark.slow
def test_the_rich_scenario_reproduces_table_1_0_under_the_reports_practice(
    arachnid: dict[str, Any],
) -> None:
    table = {p.name: p for p in scenario.load(TABLE).providers}
    rows = {row["name"]: row for row in arachnid["providers"]}
    assert set(rows) == set(table)  # every provider of the table, and nobody else
    for name, row in rows.items():
        want = table[name].behaviour  # the table's own figures, not the scenario's copy of them
        assert row["scenario"] == {
            "removal_median_days": want.removal_median_days,
            "removal_p90_days": want.removal_p90_days,
            "recidivism_rate": want.recidivism_rate,
        }
        assert row["targeted"] >= 50  # enough notices for a p90 to mean something
    assert arachnid["escalations"] == 0
    assert arachnid["notices"] > sum(r["targeted"] for r in rows.values())  # reminders too
    assert misses(arachnid) == []


@pytest.mark.slow
def test_the_seed_table_as_is_reproduces_itself_under_the_reports_practice() -> None:
    result = practice.calibrate(TABLE, SCALE, YEARS_3, seed=2)
    assert len(result["providers"]) == 18
    assert misses(result) == []


def test_the_bounds_are_the_issues() -> None:
    def row(median: float, p90: float, rec: float) -> dict[str, Any]:
        want = {"removal_median_days": 4.0, "removal_p90_days": 40.0, "recidivism_rate": 0.5}
        return {
            "name": "x",
            "removal_median_days": median,
            "removal_p90_days": p90,
            "recidivism_rate": rec,
            "scenario": want,
        }

    assert misses({"providers": [row(5.0, 30.0, 0.45)]}) == []
    assert len(misses({"providers": [row(5.1, 29.9, 0.449)]})) == 3
    assert misses({"providers": [row(4.0, None, 0.5)]})  # type: ignore[arg-type]


@pytest.mark.slow
def test_escalation_upstream_shortens_the_tail_on_the_same_world(
    arachnid: dict[str, Any],
) -> None:
    """Recommendation 2 as the world models it (an assumption, see the sim README): the same
    world and seed, escalated after 3 unanswered notices, loses its long tails; providers that
    remove within 3 days are untouched."""
    escalated = practice.calibrate(
        SCENARIOS / "table-1.0.toml", SCALE, YEARS_3, seed=1, how=practice.ESCALATE
    )
    assert escalated["escalations"] > 0
    base = {r["name"]: r for r in arachnid["providers"]}
    for row in escalated["providers"]:
        before = base[row["name"]]
        if before["removal_median_days"] <= 2.0 and before["removal_p90_days"] <= 2.0:
            assert row["removal_p90_days"] == before["removal_p90_days"], row["name"]
        if before["removal_p90_days"] >= 20:
            assert row["removal_p90_days"] < before["removal_p90_days"] / 2, row["name"]


def test_sim_calibrate_prints_the_contract_shape() -> None:
    runner = CliRunner()
    args = ["calibrate", "--scenario", str(TABLE), "--scale", "0.002", "--days", "120"]
    result = runner.invoke(sim_app, [*args, "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["practice"]["name"] == "arachnid" and data["days"] == 120
    assert len(data["providers"]) == 18
    for row in data["providers"]:
        assert {
            "name",
            "targeted",
            "removal_median_days",
            "removal_p90_days",
            "recidivism_rate",
        } <= set(row)
        assert row["targeted"] > 0
    text = runner.invoke(sim_app, args)
    assert text.exit_code == 0 and "ColoCrossing" in text.output
    bad = runner.invoke(sim_app, ["calibrate", "--policy", "weekly", "--json"])
    assert bad.exit_code == 2 and "unknown practice" in bad.output


def test_escalate_policy_escalates_after_the_given_rounds() -> None:
    engine = practice.new_engine(TABLE, 0.002, seed=1)
    until = engine.cat.scenario.world.start + timedelta(days=30)
    practice.run(engine, practice.practice("escalate", 2), until)
    by_url: dict[str, list[Any]] = {}
    for n in engine.ledger.notices:
        by_url.setdefault(n.url, []).append(n)
    escalated = [ns for ns in by_url.values() if any(n.escalation for n in ns)]
    assert escalated
    for ns in escalated:
        kinds = [n.escalation for n in ns]
        assert kinds[:3] == [False, False, True] and kinds.count(True) == 1
        assert [n.received_at for n in ns] == sorted(n.received_at for n in ns)
        gaps = {(b.received_at - a.received_at).total_seconds() for a, b in pairwise(ns)}
        assert gaps == {86400.0}
