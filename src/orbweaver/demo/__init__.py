"""`orbweaver demo`: the whole product against the simulated world, end to end (issue 8)."""

from __future__ import annotations

from orbweaver.demo.commands import register

__all__ = ["register"]
