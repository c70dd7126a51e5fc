"""`orbweaver demo`: the main job on the embedded default."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the demo command to the root app."""
