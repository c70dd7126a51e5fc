"""The attribution stage (docs/architecture.md): who can remove content at a host.

Public surface (other stages import these from `orbweaver.attribution`, never from its modules):
what attribution answers (`Attribution`, `ChainLink`, `ROLES`), the chain builder (`Attributor`,
DNS → addresses → RDAP → the chain → the recipient), operator overrides (`add_override`),
the contact checks every provider name and address passes (`check_email`, `check_webhook`) and
`AttributionSettings`. Nothing is imported until used (`orbweaver._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.attribution.service import Attributor, add_override
    from orbweaver.attribution.settings import AttributionSettings
    from orbweaver.attribution.types import (
        ROLES,
        Attribution,
        ChainLink,
        check_email,
        check_webhook,
    )
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".service": ["Attributor", "add_override"],
            ".settings": ["AttributionSettings"],
            ".types": ["ROLES", "Attribution", "ChainLink", "check_email", "check_webhook"],
        },
    )

__all__ = [
    "ROLES",
    "Attribution",
    "AttributionSettings",
    "Attributor",
    "ChainLink",
    "add_override",
    "check_email",
    "check_webhook",
]
