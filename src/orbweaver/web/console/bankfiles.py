"""Bank import and export in the console (issue 20): administrators only, each with a reason
and an explicit confirmation, each audited (`bank.imported`, `bank.exported`, actor the console
user), as `orbweaver bank import/export` does from the CLI.

An import is the bank CSV format (`signal_type,signal,category,source`); valid rows land and bad
ones are counted, as on the CLI. Uploads above `MAX_IMPORT_BYTES` are refused: larger lists go
through the CLI.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from orbweaver.web.console.pages import NO_STORE, admin_action
from orbweaver.web.console.security import (
    PageAuth,
    SessionFirstRoute,
    confirmed,
    domain_errors,
    get_service,
)

router = APIRouter(prefix="/console", include_in_schema=False, route_class=SessionFirstRoute)
MAX_IMPORT_BYTES = 32 * 1024 * 1024


@router.post("/banks/{name}/import")
async def import_bank(
    request: Request,
    name: str,
    file: UploadFile = File(...),
    reason: str = Form(""),
    checked: str = Form(""),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """Import a hash list into bank `name`; the result is shown on the banks page."""
    if checked != "yes":
        raise HTTPException(409, "confirm that you checked where this list comes from")
    why = confirmed(reason)
    raw = await file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise HTTPException(
            413, "this list is too large for the browser: use orbweaver bank import"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(409, "the file is not UTF-8 text (a bank CSV)") from exc
    with domain_errors():
        done = get_service(request).import_bank(auth.who, name, text, reason=why)
    query = urlencode({"imported": name, **done})
    return RedirectResponse(f"/console/banks?{query}", status_code=303)


@router.post("/banks/{name}/export")
def export_bank(
    request: Request,
    name: str,
    reason: str = Form(""),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """Download bank `name` as CSV (the import format); audited with the reason."""
    why = confirmed(reason)
    with domain_errors():
        body = get_service(request).export_bank(auth.who, name, reason=why)
    headers = dict(NO_STORE)
    headers["Content-Disposition"] = f'attachment; filename="bank-{name}.csv"'
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
