"""The web stage (docs/architecture.md): the FastAPI app (Shield API, review console and its JSON
API, dashboards, status), API-key authentication and per-client rate limits.

Public surface (other stages and the composition root import these from `orbweaver.web`):
`create_app`, `WebSettings` and `web_settings`. API keys themselves live below web, in
`orbweaver.access`.
Nothing is imported until used (`orbweaver._lazy`): FastAPI loads with the app, not with
`orbweaver --help`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.web.app import create_app
    from orbweaver.web.settings import WebSettings, web_settings
else:
    __getattr__, __dir__ = lazy_exports(
        __name__, {".app": ["create_app"], ".settings": ["WebSettings", "web_settings"]}
    )

__all__ = ["WebSettings", "create_app", "web_settings"]
