"""Every fuzz target replays its saved corpus (seeds and the crashes found, now fixed): part
of `make test`, no atheris needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.targets import TARGETS

CORPUS = Path(__file__).parent / "corpus"
INPUTS = sorted(
    (target, path) for target in TARGETS for path in sorted((CORPUS / target).glob("*"))
)


def test_every_target_has_a_seed_corpus() -> None:
    for target in TARGETS:
        assert any((CORPUS / target).glob("*")), f"no seeds for {target}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("target,path", INPUTS, ids=[f"{t}/{p.name}" for t, p in INPUTS])
def test_a_saved_input_runs_clean(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())
