"""One category vocabulary: `orbweaver.categories` is the only product module that spells a
category out; the stages' tables (verdicts, X-ARF classes, labels, the review API's type) are
built from it and cover it exactly."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from orbweaver import categories
from orbweaver.categories import ACTIONABLE, CATEGORIES, CSAM, LABELS, NOT_ACTIONABLE, Category

SRC = Path(categories.__file__).parent
ELSEWHERE = {
    "categories.py",  # the owner
}


def test_no_module_spells_a_category_out() -> None:
    spelled = []
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if name in ELSEWHERE or name.startswith("sim/"):  # sim: another world, its own words
            continue
        for node in ast.walk(ast.parse(path.read_text(), name)):
            if isinstance(node, ast.Constant) and node.value in CATEGORIES:
                spelled.append(f"{name}:{node.lineno} {node.value}")
    assert spelled == []


def test_tables_cover_the_vocabulary() -> None:
    from orbweaver.notices.xarf import CSAM_CLASS
    from orbweaver.store import models
    from orbweaver.web.console import api
    from orbweaver.web.verdict import CLASSIFICATION_OF, classify

    assert get_args(Category) == CATEGORIES and api.Category is Category
    assert models.CATEGORIES is CATEGORIES
    assert CLASSIFICATION_OF.keys() == set(CATEGORIES)
    assert [classify(c) for c in CATEGORIES] == [
        "csam",
        "csam",
        "harmful-abusive-material",
        "no-known-match",
    ]
    assert CSAM_CLASS.keys() == set(CSAM) and set(CSAM) < set(ACTIONABLE)
    assert LABELS.keys() == set(CATEGORIES) and NOT_ACTIONABLE not in ACTIONABLE
