"""Access for machine clients (docs/architecture.md): API keys, issued, listed, verified and
revoked.

Below both `review` (which issues an analyst's key with `orbweaver user add --api-key`) and `web`
(which verifies keys on every request), so neither reaches up into the other for them.

Public surface: `create_client`, `list_clients`, `revoke_client`, `KeyRegistry`, `ClientInfo`,
`ClientListing`, `ApiKeyError`, `DEFAULT_SCOPES`. Nothing is imported until used
(`orbweaver._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.access.apikeys import (
        DEFAULT_SCOPES,
        ApiKeyError,
        ClientInfo,
        ClientListing,
        KeyRegistry,
        create_client,
        list_clients,
        revoke_client,
    )
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".apikeys": [
                "DEFAULT_SCOPES",
                "ApiKeyError",
                "ClientInfo",
                "ClientListing",
                "KeyRegistry",
                "create_client",
                "list_clients",
                "revoke_client",
            ],
        },
    )

__all__ = [
    "DEFAULT_SCOPES",
    "ApiKeyError",
    "ClientInfo",
    "ClientListing",
    "KeyRegistry",
    "create_client",
    "list_clients",
    "revoke_client",
]
