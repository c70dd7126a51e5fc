"""The simulated internet (docs/architecture.md, and README.md here): another world, reached
only over the network.

Nothing here imports the rest of orbweaver, and the product never imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orbweaver.sim.world import World

__all__ = ["World"]


def __getattr__(name: str) -> Any:
    if name == "World":  # lazy, so `orbweaver --help` does not pay for the servers' imports
        from orbweaver.sim.world import World

        return World
    raise AttributeError(name)
