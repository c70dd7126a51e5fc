"""The manager's pages: providers, notices (with the messages as sent, and a retry for failed
ones), search by URL, host, hash or notice id, and the audit log with filters and export.

Senior analysts and administrators read them; changing anything (a retry) needs an
administrator and is recorded (an `outbox.requeued` event naming the console user, and an
audit row). They read the store's rows directly: the schema is where the stages meet.
"""

from __future__ import annotations

import csv
import io
import re
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from orbweaver.store.models import (
    AuditEntry,
    Media,
    Notice,
    NoticeItem,
    Outbox,
    Provider,
    ProviderAlias,
    ProviderOverride,
    ReviewItem,
    Sighting,
)
from orbweaver.web.console.pages import admin, admin_action, render, senior
from orbweaver.web.console.reports import provider_removal
from orbweaver.web.console.security import (
    ROW_ID_MAX,
    BeforeId,
    ItemId,
    PageAuth,
    SessionFirstRoute,
    confirmed,
    get_service,
)
from orbweaver.web.context import get_context

router = APIRouter(prefix="/console", include_in_schema=False, route_class=SessionFirstRoute)
HEX = re.compile(r"^[0-9a-fA-F]{32,64}$")
PAGE = 100


def _session(request: Request) -> AbstractContextManager[Session]:
    return get_context(request).store.session()


@router.get("/providers")
def providers(request: Request, auth: PageAuth = Depends(senior)) -> Response:
    """Every provider with its notices: in flight, removed, and failed deliveries."""
    with _session(request) as s:
        counts = _notice_counts(s)
        failures = dict(
            s.execute(
                sa.select(Outbox.provider_id, sa.func.count())
                .where(Outbox.status == "failed")
                .group_by(Outbox.provider_id)
            ).all()
        )
        rows = [
            {
                "provider": p,
                "counts": counts.get(p.id, {}),
                "failed": int(failures.get(p.id, 0)),
            }
            for p in s.scalars(sa.select(Provider).order_by(Provider.name))
        ]
    return render(request, "providers.html", auth, rows=rows)


def _notice_counts(s: Session) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    for provider_id, status, n in s.execute(
        sa.select(Notice.provider_id, Notice.status, sa.func.count()).group_by(
            Notice.provider_id, Notice.status
        )
    ):
        if provider_id is not None:
            found.setdefault(int(provider_id), {})[status] = int(n)
    return found


@router.get("/providers/{provider_id}")
def provider_page(
    request: Request, provider_id: ItemId, auth: PageAuth = Depends(senior)
) -> Response:
    """One provider: contacts and channels, aliases and overrides, figures, notices in
    flight, delivery failures."""
    with _session(request) as s:
        provider = s.get(Provider, provider_id)
        if provider is None:
            raise HTTPException(404, f"no provider {provider_id}")
        pid = provider.id
        aliases = list(s.scalars(sa.select(ProviderAlias).where(ProviderAlias.provider_id == pid)))
        overrides = list(
            s.scalars(sa.select(ProviderOverride).where(ProviderOverride.provider_id == pid))
        )
        open_notices = list(
            s.scalars(
                sa.select(Notice)
                .where(Notice.provider_id == provider.id, Notice.status == "open")
                .order_by(Notice.id.desc())
                .limit(PAGE)
            )
        )
        failed = list(
            s.scalars(
                sa.select(Outbox)
                .where(Outbox.provider_id == provider.id, Outbox.status == "failed")
                .order_by(Outbox.id.desc())
                .limit(PAGE)
            )
        )
        figures = _figures(s, provider.id)
        chain = _chain_neighbours(s, pid)
        s.expunge_all()
    removal = provider_removal(get_context(request).store, pid)
    return render(
        request,
        "provider.html",
        auth,
        provider=provider,
        aliases=aliases,
        overrides=overrides,
        open_notices=open_notices,
        failed=failed,
        figures=figures,
        removal=removal,
        chain=chain,
    )


CHAIN_NOTICES = 500


def _chain_neighbours(s: Session, provider_id: int) -> list[dict[str, Any]]:
    """The other providers in the attribution chains of this provider's latest notices (a CDN
    in front of it, the upstream network and registrar escalations go to), by role, with how
    many notices each appears in: where its notices escalate, read from what was sent."""
    chains = s.scalars(
        sa.select(Notice.chain)
        .where(Notice.provider_id == provider_id)
        .order_by(Notice.id.desc())
        .limit(CHAIN_NOTICES)
    )
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for chain in chains:
        own = next(
            (i for i, link in enumerate(chain or []) if link.get("provider_id") == provider_id),
            None,
        )
        for i, link in enumerate(chain or []):
            other = link.get("provider_id")
            if i == own or not other:
                continue
            side = "in front of it" if own is not None and i < own else "above it"
            row = seen.setdefault(
                (str(link.get("role", "")), int(other)),
                {
                    "role": link.get("role", ""),
                    "provider_id": int(other),
                    "name": link.get("name") or f"provider {other}",
                    "side": side,
                    "notices": 0,
                },
            )
            row["notices"] += 1
    return sorted(seen.values(), key=lambda r: (-r["notices"], r["name"]))


def _figures(s: Session, provider_id: int) -> dict[str, int]:
    """Counts of its notices; the removal figures are the report's (`provider_removal`)."""
    rows = s.execute(
        sa.select(Notice.status, Notice.recidivist).where(Notice.provider_id == provider_id)
    ).all()
    return {
        "notices": len(rows),
        "open": sum(1 for r in rows if r[0] == "open"),
        "removed": sum(1 for r in rows if r[0] == "removed"),
        "recidivist": sum(1 for r in rows if r[1]),
    }


@router.get("/notices")
def notices(
    request: Request, auth: PageAuth = Depends(senior), status: str = "", failed: bool = False
) -> Response:
    """Notices, newest first; by status, or only those with a failed delivery."""
    with _session(request) as s:
        query = sa.select(Notice).order_by(Notice.id.desc()).limit(PAGE)
        if status:
            query = query.where(Notice.status == status)
        if failed:
            query = query.where(
                Notice.id.in_(sa.select(Outbox.notice_id).where(Outbox.status == "failed"))
            )
        rows = list(s.scalars(query))
        names = _provider_names(s, {n.provider_id for n in rows if n.provider_id})
        statuses = [r[0] for r in s.execute(sa.select(Notice.status).distinct())]
        s.expunge_all()
    return render(
        request,
        "notices.html",
        auth,
        rows=rows,
        names=names,
        status=status,
        failed=failed,
        statuses=sorted(statuses),
    )


def _provider_names(s: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(s.execute(sa.select(Provider.id, Provider.name).where(Provider.id.in_(ids))).all())


@router.get("/notices/{notice_id}")
def notice_page(request: Request, notice_id: ItemId, auth: PageAuth = Depends(senior)) -> Response:
    """One notice: status, rounds, escalation, its chain, what it covers, every message as
    it was sent (failed ones with a retry button for administrators)."""
    with _session(request) as s:
        notice = s.get(Notice, notice_id)
        if notice is None:
            raise HTTPException(404, f"no notice {notice_id}")
        items = list(s.scalars(sa.select(NoticeItem).where(NoticeItem.notice_id == notice.id)))
        review_items = dict(
            s.execute(
                sa.select(ReviewItem.media_id, ReviewItem.id).where(
                    ReviewItem.media_id.in_([i.media_id for i in items])
                )
            ).all()
        )
        messages = list(
            s.scalars(sa.select(Outbox).where(Outbox.notice_id == notice.id).order_by(Outbox.id))
        )
        provider = s.get(Provider, notice.provider_id) if notice.provider_id else None
        s.expunge_all()
    return render(
        request,
        "notice.html",
        auth,
        notice=notice,
        items=items,
        review_items=review_items,
        messages=messages,
        provider=provider,
    )


@router.post("/outbox/{outbox_id}/retry")
def retry(
    request: Request,
    outbox_id: ItemId,
    reason: str = Form(""),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """Put one failed message back in the queue (as `orbweaver notices retry`), audited."""
    from orbweaver.notices import requeue_failed

    ctx = get_context(request)
    with ctx.store.session() as s:
        row = s.get(Outbox, outbox_id)
        if row is None or row.status != "failed":
            raise HTTPException(409, f"message {outbox_id} is not a failed message")
        notice_id = row.notice_id
    done = requeue_failed(ctx.store, ctx.clock, [outbox_id], actor=f"console:{auth.who.username}")
    get_service(request).record(
        auth.who,
        "outbox.retry",
        subject_type="outbox",
        subject_id=outbox_id,
        detail={"requeued": done, "reason": reason.strip()[:500]},
    )
    target = f"/console/notices/{notice_id}" if notice_id else "/console/notices?failed=1"
    return RedirectResponse(target, status_code=303)


@router.get("/search")
def search(request: Request, q: str = "", auth: PageAuth = Depends(senior)) -> Response:
    """One box: a notice id or report id, a hash of any signal type, a host, or a URL."""
    q = q.strip()[:2000]
    found = _search(get_context(request).store.session, q) if q else None
    return render(request, "search.html", auth, q=q, found=found)


def _search(session_factory: Any, q: str) -> dict[str, list[Any]]:
    with session_factory() as s:
        notices: list[Notice] = []
        items: list[tuple[int, str, str]] = []
        if q.isdigit() and int(q) <= ROW_ID_MAX:
            notice = s.get(Notice, int(q))
            notices += [notice] if notice else []
        notices += list(s.scalars(sa.select(Notice).where(Notice.report_id == q).limit(1)))
        media_ids: list[int] = []
        if HEX.match(q):
            value = q.lower()
            media_ids = list(
                s.scalars(
                    sa.select(Media.id)
                    .where(
                        sa.or_(
                            Media.sha256 == value,
                            Media.sha1 == value,
                            Media.md5 == value,
                            Media.pdq == value,
                        )
                    )
                    .limit(PAGE)
                )
            )
        elif "/" in q or q.startswith("http"):
            notices += list(s.scalars(sa.select(Notice).where(Notice.url == q).limit(PAGE)))
            media_ids = list(
                s.scalars(sa.select(Sighting.media_id).where(Sighting.url == q).limit(PAGE))
            )
        else:
            host = q.lower()
            notices += list(
                s.scalars(
                    sa.select(Notice)
                    .where(Notice.host == host)
                    .order_by(Notice.id.desc())
                    .limit(PAGE)
                )
            )
            media_ids = list(
                s.scalars(
                    sa.select(Sighting.media_id).where(Sighting.host == host).distinct().limit(PAGE)
                )
            )
        if media_ids:
            items = [
                (int(i), status, sha)
                for i, status, sha in s.execute(
                    sa.select(ReviewItem.id, ReviewItem.status, Media.sha256)
                    .join(Media, Media.id == ReviewItem.media_id)
                    .where(ReviewItem.media_id.in_(media_ids))
                )
            ]
            covering = sa.select(NoticeItem.notice_id).where(NoticeItem.media_id.in_(media_ids))
            notices += list(
                s.scalars(
                    sa.select(Notice)
                    .where(Notice.id.in_(covering))
                    .order_by(Notice.id.desc())
                    .limit(PAGE)
                )
            )
        unique = {n.id: n for n in notices}
        s.expunge_all()
    return {"notices": sorted(unique.values(), key=lambda n: -n.id), "review_items": items}


# --- the audit log ---------------------------------------------------------------------------


def _audit_query(actor: str, action: str, since: str, until: str) -> sa.Select[AuditEntry]:
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc())
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    for text, after in ((since, True), (until, False)):
        if not text:
            continue
        try:
            day = datetime.fromisoformat(text)
        except ValueError as exc:
            raise HTTPException(422, f"not a date (YYYY-MM-DD): {text!r}") from exc
        query = query.where(
            AuditEntry.at >= day if after else AuditEntry.at < day + timedelta(days=1)
        )
    return query


def readable(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """An audit row's detail as "key: value" lines (lists joined, nothing nested shown raw)."""
    lines = []
    for key, value in detail.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif value is None:
            value = "—"
        lines.append((key.replace("_", " "), str(value)))
    return lines


def audit_rows(
    request: Request,
    actor: str,
    action: str,
    since: str,
    until: str,
    before: int | None,
    limit: int,
) -> list[AuditEntry]:
    query = _audit_query(actor, action, since, until).limit(limit)
    if before:
        query = query.where(AuditEntry.id < before)
    with _session(request) as s:
        rows = list(s.scalars(query))
        s.expunge_all()
    return rows


def audit_csv(rows: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "role", "action", "subject_type", "subject_id", "detail"])
    for r in rows:
        detail = "; ".join(f"{k}: {v}" for k, v in readable(r.detail))
        at = r.at.isoformat()
        writer.writerow([r.id, at, r.actor, r.role, r.action, r.subject_type, r.subject_id, detail])
    return out.getvalue()


@router.get("/audit")
def audit_log(
    request: Request,
    before: BeforeId = None,
    actor: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    auth: PageAuth = Depends(admin),
) -> Response:
    """The audit log, newest first, 100 a page: by who, what (an action or its prefix, e.g.
    `image.`) and when (UTC days), details in words, subjects linked."""
    rows = audit_rows(request, actor.strip(), action.strip(), since, until, before, PAGE)
    filters = {"actor": actor, "action": action, "since": since, "until": until}
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(
        request,
        "audit.html",
        auth,
        rows=rows,
        filters=filters,
        query=query,
        readable=readable,
        actions=_actions(request),
    )


def _actions(request: Request) -> list[str]:
    with _session(request) as s:
        return sorted(s.scalars(sa.select(AuditEntry.action).distinct()))


@router.get("/audit.csv")
def audit_export(
    request: Request,
    actor: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    auth: PageAuth = Depends(admin),
) -> Response:
    """The filtered audit log as CSV (at most 100,000 rows; `orbweaver audit` for more)."""
    rows = audit_rows(request, actor.strip(), action.strip(), since, until, None, 100_000)
    return Response(
        audit_csv(rows),
        media_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- API keys ---------------------------------------------------------------------------------

KEY_SCOPES = ("shield", "review")


@router.get("/keys")
def keys_page(request: Request, auth: PageAuth = Depends(admin)) -> Response:
    """API keys: who holds one, for what, last used; issue and revoke (administrators)."""
    from orbweaver.access import list_clients

    clients = list_clients(get_context(request).store)
    return render(request, "keys.html", auth, clients=clients, scopes=KEY_SCOPES, issued="")


@router.post("/keys")
def issue_key(
    request: Request,
    name: str = Form(...),
    reason: str = Form(""),
    shield: bool = Form(False),
    review: bool = Form(False),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """Issue a key; its secret is shown on this answer only (never stored, never again)."""
    from orbweaver.access import ApiKeyError, create_client, list_clients

    scopes = tuple(s for s, on in (("shield", shield), ("review", review)) if on)
    if not scopes or not reason.strip():
        raise HTTPException(409, "choose at least one scope and give a reason (audited)")
    ctx = get_context(request)
    try:
        key = create_client(
            ctx.store, ctx.clock, name.strip(), scopes=scopes, actor=f"console:{auth.who.username}"
        )
    except ApiKeyError as exc:
        raise HTTPException(409, str(exc)) from exc
    get_service(request).record(
        auth.who,
        "apikey.created",
        subject_type="api_client",
        detail={"name": name.strip(), "scopes": list(scopes), "reason": reason.strip()[:500]},
    )
    clients = list_clients(ctx.store)
    return render(request, "keys.html", auth, clients=clients, scopes=KEY_SCOPES, issued=key)


@router.post("/keys/{name}/revoke")
def revoke_key(
    request: Request,
    name: str,
    confirm: str = Form(""),
    reason: str = Form(""),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """Revoke a key for good: its name typed again and a reason, both audited."""
    from orbweaver.access import ApiKeyError, revoke_client

    confirmed(reason, typed=confirm, name=name, what="key's")
    ctx = get_context(request)
    try:
        revoke_client(ctx.store, ctx.clock, name, actor=f"console:{auth.who.username}")
    except ApiKeyError as exc:
        raise HTTPException(404, str(exc)) from exc
    get_service(request).record(
        auth.who,
        "apikey.revoked",
        subject_type="api_client",
        detail={"name": name, "reason": reason.strip()[:500]},
    )
    return RedirectResponse("/console/keys", status_code=303)
