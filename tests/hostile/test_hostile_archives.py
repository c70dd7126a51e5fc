"""Hostile archives: each a clear error of its own (bomb, password, corrupt) or its members with
the problems named; nothing is ever written to disk; the next archive unpacks as usual."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostile.archives import CASES, SMALL, Case, zip_of
from orbweaver.signals import (
    ArchiveBomb,
    ArchiveError,
    ArchivePasswordError,
    unpack,
)

ERRORS = {"bomb": ArchiveBomb, "password": ArchivePasswordError, "error": ArchiveError}


def _unpack_batch(items: list[bytes]) -> list[object]:
    out: list[object] = []
    for data in items:
        try:
            out.append(unpack(data, passwords=["wrong"]))
        except ArchiveError as exc:
            out.append(exc)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_archive_is_one_clear_outcome_and_the_next_one_unpacks(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    good = zip_of(SMALL)
    before, outcome, after = _unpack_batch([good, case.make(), good])
    for result in (before, after):
        assert not isinstance(result, Exception)
        assert {m.path: m.data for m in result.members} == SMALL  # type: ignore[attr-defined]
    if case.expect in ERRORS:
        assert isinstance(outcome, ERRORS[case.expect]), outcome
        assert case.reason in str(outcome) and str(outcome)
    elif case.expect == "members":
        assert not isinstance(outcome, Exception), outcome
        members, problems = outcome.members, outcome.problems  # type: ignore[attr-defined]
        assert members or problems
        assert all(case.reason in p for p in problems[:1]) if case.reason else True
        if case.reason:
            assert any(case.reason in p for p in problems), problems
    else:
        assert isinstance(outcome, ArchiveError) or hasattr(outcome, "members")
    assert os.listdir(tmp_path) == []  # members live in memory only: nothing written
