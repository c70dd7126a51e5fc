"""Errors on console pages are pages: the reason in words, and the way back to where the
analyst was (their item, the queue), never a raw JSON body. The JSON API keeps its JSON.

A request from HTMX (a reveal, a heartbeat) gets the message alone, which `console.js` swaps
into the page in place of what it asked for.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from orbweaver.web.console.pages import render
from orbweaver.web.console.security import session_auth
from orbweaver.web.errors import describe_validation, error_response

ITEM_PATH = re.compile(r"^/console/items/(\d+)")
TITLES = {
    401: "Please log in again",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    413: "Too large",
    422: "Something in the form was not right",
    429: "Too many tries",
}


def is_page(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/console") and not path.startswith("/console/static")


def error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    match = ITEM_PATH.match(request.url.path)
    values = {
        "status": status,
        "title": TITLES.get(status, "Something went wrong"),
        "message": message,
        "item_id": int(match.group(1)) if match else None,
    }
    name = "error_fragment.html" if request.headers.get("hx-request") else "error.html"
    return render(
        request, name, session_auth(request), status_code=status, headers=headers, **values
    )


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code >= 400 and is_page(request):
        return await run_in_threadpool(
            error_page, request, exc.status_code, str(exc.detail), dict(exc.headers or {})
        )
    return await http_exception_handler(request, exc)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if is_page(request):
        return await run_in_threadpool(error_page, request, 422, describe_validation(exc))
    return error_response(422, describe_validation(exc))


def install_error_pages(app: FastAPI) -> None:
    """After `web.errors.install_error_handlers`: these replace its handlers for pages."""
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
