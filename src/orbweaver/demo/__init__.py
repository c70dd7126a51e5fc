"""`orbweaver demo` (docs/architecture.md): the whole product against the simulated world, end
to end."""

from __future__ import annotations

from orbweaver.demo.commands import register

__all__ = ["register"]
