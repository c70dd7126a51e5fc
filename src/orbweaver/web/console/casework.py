"""Casework in the console (issue 19): holds, and each notice's evidence with its verification.

Who: senior analysts and administrators (`senior_analyst` and up), as for reports: holds carry
law-enforcement requests, evidence names sites. Adding and releasing a hold is a CSRF-checked
POST, audited like the CLI's (`hold.added`, `hold.released`, actor `console:<user>`).

The evidence page exports the notice's bundle (audited, `evidence.exported`) into a temporary
folder, verifies it against this deployment's public key, and shows the result and the
records; `/evidence.zip` downloads the same bundle.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from orbweaver.notices import HoldError, add_hold, list_holds, release_hold
from orbweaver.store.models import Notice
from orbweaver.web.console.pages import NO_STORE, render
from orbweaver.web.console.security import (
    ItemId,
    PageAuth,
    SessionFirstRoute,
    page_action,
    page_user,
)
from orbweaver.web.context import get_context

router = APIRouter(prefix="/console", include_in_schema=False, route_class=SessionFirstRoute)
reader = page_user("senior_analyst")
actor = page_action("senior_analyst")


@router.get("/holds")
def holds_page(request: Request, auth: PageAuth = Depends(reader), error: str = "") -> Response:
    ctx = get_context(request)
    with ctx.store.session() as session:
        rows = list_holds(session)
    return render(request, "holds.html", auth, holds=rows, error=error[:200])


@router.post("/holds")
def hold_add(
    request: Request,
    scope: str = Form(..., max_length=8),
    value: str = Form(..., max_length=2048),
    reason: str = Form(..., max_length=2000),
    legal: bool = Form(False),
    auth: PageAuth = Depends(actor),
) -> Response:
    ctx = get_context(request)
    who = f"console:{auth.who.username}"
    try:
        with ctx.store.session() as session:
            add_hold(session, ctx.clock, scope, value, reason=reason, actor=who, legal=legal)
    except HoldError as exc:
        holds = _holds(ctx)
        return render(request, "holds.html", auth, holds=holds, error=str(exc), status_code=400)
    return RedirectResponse("/console/holds", status_code=303)


@router.post("/holds/{item_id}/release")
def hold_release(request: Request, item_id: ItemId, auth: PageAuth = Depends(actor)) -> Response:
    ctx = get_context(request)
    try:
        with ctx.store.session() as session:
            release_hold(session, ctx.clock, item_id, actor=f"console:{auth.who.username}")
    except HoldError as exc:
        raise HTTPException(404, str(exc)) from exc
    return RedirectResponse("/console/holds", status_code=303)


def _holds(ctx: Any) -> list[Any]:
    with ctx.store.session() as session:
        return list_holds(session)


def _bundle(request: Request, notice_id: int, out: Path, who: str) -> dict[str, Any]:
    """Export the notice's bundle into `out` (audited); 404 without evidence or key."""
    from orbweaver.evidence import EvidenceError, EvidenceSettings, export_bundle

    ctx = get_context(request)
    key = EvidenceSettings().evidence_signing_key
    try:
        with ctx.store.session() as session:
            return export_bundle(session, ctx.clock, notice_id, out, key, actor=who)
    except EvidenceError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/notices/{item_id}/evidence")
def evidence_page(request: Request, item_id: ItemId, auth: PageAuth = Depends(reader)) -> Response:
    """The notice's evidence records and the verification of its bundle, as exported now."""
    from orbweaver.evidence import EvidenceSettings, public_key_text, signing_key, verify_bundle

    ctx = get_context(request)
    with ctx.store.session() as session:
        notice = session.get(Notice, item_id)
        if notice is None:
            raise HTTPException(404, "no such notice")
        url, status = notice.url, notice.status
    with tempfile.TemporaryDirectory() as tmp:
        manifest = _bundle(request, item_id, Path(tmp), f"console:{auth.who.username}")
        key = public_key_text(signing_key(EvidenceSettings().evidence_signing_key))
        result = verify_bundle(Path(tmp), key)
    return render(
        request,
        "evidence.html",
        auth,
        notice_id=item_id,
        url=url,
        status=status,
        manifest=manifest,
        result=result,
    )


@router.get("/notices/{item_id}/evidence.zip")
def evidence_zip(request: Request, item_id: ItemId, auth: PageAuth = Depends(reader)) -> Response:
    """The bundle (WARC, manifest, signature) as one zip file."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        _bundle(request, item_id, Path(tmp), f"console:{auth.who.username}")
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(Path(tmp).iterdir()):
                zf.write(path, f"notice-{item_id}/{path.name}")
    return Response(
        buf.getvalue(),
        media_type="application/zip",
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="notice-{item_id}-evidence.zip"',
        },
    )
