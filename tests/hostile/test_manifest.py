"""The hostile corpus's manifest tells the truth: each family's count is its case list's length,
the total is their sum, and it holds at least the 60 inputs issue 14 asks for."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

MANIFEST = json.loads((Path(__file__).parent / "manifest.json").read_text())


def test_the_manifest_counts_every_case() -> None:
    total = 0
    for name, family in MANIFEST["families"].items():
        cases = getattr(importlib.import_module(family["module"]), family["cases"])
        assert len(cases) == family["count"], name
        ids = [c.id if hasattr(c, "id") else c for c in cases]
        assert len(set(ids)) == len(ids), f"{name}: duplicate ids"
        total += family["count"]
    assert MANIFEST["total"] == total >= 60
