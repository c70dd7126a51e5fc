"""Lazy public surfaces for the stages' `__init__` modules.

Each stage's `__init__` names what other stages may import from it, but importing the package
must stay cheap: `orbweaver --help` loads every stage's `commands` module, and with it every
stage package. A stage therefore declares its surface twice in one file: the imports under
`TYPE_CHECKING` (what mypy and the import linter read) and the same names given to
`lazy_exports`, which imports a submodule only when one of its names is first used::

    if TYPE_CHECKING:
        from orbweaver.monitor.removal import removal_seconds
    else:
        __getattr__, __dir__ = lazy_exports(__name__, {".removal": ["removal_seconds"]})

`tests/architecture/test_public_surfaces.py` holds the two lists equal and checks that importing
a package loads nothing beyond the standard library and orbweaver's package modules.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, list[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module `__getattr__` and `__dir__` of `package`, resolving each exported name from
    its submodule (`.name`, relative to `package`) on first use."""
    owner = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = owner.get(name)
        if module is None:  # also how `from package import submodule` finds a submodule
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *owner})

    return __getattr__, __dir__
