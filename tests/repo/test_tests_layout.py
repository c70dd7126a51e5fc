"""Tests are laid out like src/: each in the folder of the stage or module it tests (or of the
cross-cutting concern: architecture, docs, packaging, the repository), none at the top."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_module_sits_at_the_top_of_tests() -> None:
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == []
