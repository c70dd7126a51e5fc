"""The compiled X-ARF validator (jsonschema-rs) gives the pure-Python validator's verdict on every
kind of report the notices stage composes, and on broken ones; `validate` refuses what either
refuses."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orbweaver.notices.xarf import (
    Contact,
    ItemHashes,
    ReportInput,
    XarfInvalid,
    compose_report,
    fast_validator_for,
    is_valid,
    validate,
    validation_errors,
)

XARF = Path(__file__).parents[1] / "data" / "xarf" / "schemas" / "v4"
pytestmark = pytest.mark.skipif(
    fast_validator_for() is None, reason="jsonschema-rs is not installed"
)


def _input(category: str, kind: str, n: int, round_: int, level: int, pdq: bool) -> ReportInput:
    items = [
        ItemHashes(
            f"{i:064x}",
            f"{i:040x}",
            f"{i:032x}",
            f"{i:064x}" if pdq else None,
            category,
            member_path=f"set/{i}.jpg" if kind == "archive" else None,
            match="pdq" if pdq and i == 0 else "exact",
        )
        for i in range(n)
    ]
    when = datetime(2021, 3, 4, 5, 6, 7)
    return ReportInput(
        report_id="b7ca7591-811e-4d40-83d9-dc043c08555d",
        url="http://img.example.test/x/y.jpg?z=1",
        host="img.example.test",
        kind=kind,
        category=category,
        items=items,
        first_seen=when,
        last_seen=when,
        reporter=Contact("Hotline", "notices@hotline.test", "hotline.test"),
        source_identifier="img.example.test",
        hosting_provider="Some Host" if level else None,
        asn=64512 if round_ > 1 else None,
        round=round_,
        escalation_level=level,
        notice_id=41,
    )


REPORTS = [
    compose_report(_input(c, k, n, r, lv, pdq))
    for c in ("csam_prepubescent", "csam_postpubescent", "harmful_abusive")
    for k, n in (("media", 1), ("archive", 4))
    for r, lv in ((1, 0), (3, 0), (2, 1))
    for pdq in (False, True)
]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(report: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = report
        for p in parents:
            node = node[p]
        node[last] = value

    return apply


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda report: report.pop(key, None)


BREAKS = {
    "round tag with two colons": _set("tags", ["orbweaver:round:2"]),
    "reporter contact not an address": _set("reporter/contact", "not an address"),
    "no report_id": _drop("report_id"),
    "no url": _drop("url"),
    "no category": _drop("category"),
    "unknown type": _set("type", "nonsense"),
    "csam class": _set("classification", "Z9"),
    "xarf version": _set("xarf_version", "3.0"),
    "confidence above 1": _set("confidence", 1.5),
    "evidence not a list": _set("evidence", "none"),
    "category of another family": _set("category", "messaging"),
}


@pytest.mark.parametrize("index", range(len(REPORTS)))
def test_both_validators_accept_every_composed_report(index: int) -> None:
    report = REPORTS[index]
    fast = fast_validator_for()
    assert fast is not None and fast.is_valid(report)
    assert validation_errors(report) == []
    assert validation_errors(report, XARF) == []
    assert is_valid(report)


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_both_validators_refuse_broken_reports(name: str) -> None:
    fast = fast_validator_for()
    assert fast is not None
    verdicts = []
    for base in REPORTS:
        report = copy.deepcopy(base)
        BREAKS[name](report)
        python_ok = not validation_errors(report)
        assert fast.is_valid(report) == python_ok, (name, base["type"], base["tags"])
        verdicts.append(python_ok)
        if not python_ok:
            with pytest.raises(XarfInvalid):
                validate(report)
    assert not verdicts[0], name  # a CSAM media report: every break above breaks it
