"""Exchanges in the console (issue 17): each exchange's state, and analysts' feedback on entries
from another source (confirm or dispute, with a reason), as `orbweaver exchange vote`.

Who: analysts and up. A vote is a CSRF-checked POST, recorded as an `exchange.voted` event and
in the audit log (`exchange.vote`, actor the analyst); the exchanges role sends it to the
exchange at its next pass where that exchange takes feedback.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from orbweaver.exchanges import ExchangeError, ExchangeSettings, status, vote
from orbweaver.store.models import BankEntry, ExchangeVote
from orbweaver.web.console.pages import render
from orbweaver.web.console.security import (
    PageAuth,
    SessionFirstRoute,
    get_service,
    page_action,
    page_user,
)
from orbweaver.web.context import get_context

router = APIRouter(prefix="/console", include_in_schema=False, route_class=SessionFirstRoute)
reader = page_user("analyst")
actor = page_action("analyst")


def _page(request: Request, auth: PageAuth, error: str = "", code: int = 200) -> Response:
    ctx = get_context(request)
    exchanges = status(ctx.store, ExchangeSettings())
    with ctx.store.session() as session:
        votes = session.execute(
            sa.select(ExchangeVote, BankEntry.signal_type, BankEntry.signal, BankEntry.source)
            .join(BankEntry, BankEntry.id == ExchangeVote.bank_entry_id)
            .order_by(ExchangeVote.id.desc())
            .limit(100)
        ).all()
        rows = [(v, t, s, src) for v, t, s, src in votes]
        for v, *_ in rows:
            session.expunge(v)
    return render(
        request,
        "exchanges.html",
        auth,
        exchanges=exchanges,
        votes=rows,
        error=error[:300],
        status_code=code,
    )


@router.get("/exchanges")
def exchanges_page(request: Request, auth: PageAuth = Depends(reader)) -> Response:
    return _page(request, auth)


@router.post("/exchanges/vote")
def exchange_vote(
    request: Request,
    entry_id: int = Form(..., ge=1),
    verdict: str = Form(..., max_length=8),
    reason: str = Form("", max_length=500),
    auth: PageAuth = Depends(actor),
) -> Response:
    ctx = get_context(request)
    if verdict not in ("up", "down"):
        return _page(request, auth, "the vote is up (confirmed) or down (disputed)", 400)
    try:
        row = vote(
            ctx.store,
            ctx.clock,
            entry_id,
            up=verdict == "up",
            reason=reason,
            actor=f"console:{auth.who.username}",
            settings=ExchangeSettings(),
        )
    except ExchangeError as exc:
        return _page(request, auth, str(exc), 400)
    get_service(request).record(
        auth.who,
        "exchange.vote",
        subject_type="bank_entry",
        subject_id=entry_id,
        detail={"vote": verdict, "reason": reason.strip(), "status": row.status},
    )
    return RedirectResponse("/console/exchanges", status_code=303)
