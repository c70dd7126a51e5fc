"""The review JSON API: the console's actions for programs (the simulated world's analysts).

HTTP Basic with an API key holding the `review` scope, whose client name is a console user's
username: the key acts as that user, with that user's role, exposure cap and audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from orbweaver.categories import Category
from orbweaver.review import ItemView, Principal
from orbweaver.web.auth import auth_first_route
from orbweaver.web.console.security import (
    API_SCOPE,
    BeforeId,
    ItemId,
    api_user,
    domain_errors,
    get_service,
)
from orbweaver.web.errors import ErrorDetail

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorDetail, "description": text}
    for code, text in {
        401: "Missing or wrong API credentials.",
        403: "The key is not linked to an enabled console user, or the user's role may not.",
        404: "No such item, or no stored bytes for it.",
        409: "Not possible in the item's current state (already assessed, decided, ...).",
        413: "Body larger than the deployment accepts.",
        422: "An invalid body or parameter.",
    }.items()
}
router = APIRouter(
    prefix="/api/review",
    tags=["review"],
    route_class=auth_first_route(API_SCOPE),
    responses=ERRORS,
)
analyst = api_user("analyst")
senior = api_user("senior_analyst")
admin = api_user("administrator")

Severity = Literal["sex_act", "lascivious_exhibition"]


class SightingOut(BaseModel):
    url: str
    page_url: str | None
    host: str
    network: str
    archive_url: str | None
    member_path: str | None
    seen_at: datetime


class ItemOut(BaseModel):
    """A queue item: hashes, sightings and why it is where it is in the queue."""

    id: int
    status: str
    sha256: str
    pdq: str | None
    mime_type: str | None
    priority: int
    reasons: list[str]
    sightings: list[SightingOut]
    near_duplicates: list[int]
    verdict: str | None
    image_url: str


class NextOut(BaseModel):
    item: ItemOut | None


class Decision(BaseModel):
    category: Category
    severity: Severity | None = None


class OutcomeOut(BaseModel):
    item_id: int
    status: str
    verdict: str | None
    detections: int


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    subject_type: str
    subject_id: int | None
    detail: dict[str, object]


def _item(view: ItemView) -> ItemOut:
    return ItemOut(
        id=view.id,
        status=view.status,
        sha256=view.sha256,
        pdq=view.pdq,
        mime_type=view.mime_type,
        priority=view.priority,
        reasons=view.reasons,
        sightings=[SightingOut(**vars(s)) for s in view.sightings],
        near_duplicates=[n[0] for n in view.near_duplicates],
        verdict=view.verdict,
        image_url=f"/api/review/items/{view.id}/image",
    )


@router.get("/next", response_model=NextOut)
def next_item(request: Request, who: Principal = Depends(analyst)) -> NextOut:
    """The highest-priority item this analyst has not assessed, or null."""
    view = get_service(request).serve_next(who)
    return NextOut(item=None if view is None else _item(view))


@router.get("/items/{item_id}", response_model=ItemOut)
def item(request: Request, item_id: ItemId, who: Principal = Depends(analyst)) -> ItemOut:
    with domain_errors():
        return _item(get_service(request).item(who, item_id))


@router.get("/items/{item_id}/image", responses={200: {"content": {"image/png": {}}}})
def image(
    request: Request, item_id: ItemId, reveal: bool = False, who: Principal = Depends(analyst)
) -> Response:
    """The image, softened per the user's wellbeing settings unless `reveal`; audited and
    charged against the daily exposure cap."""
    service = get_service(request)
    with domain_errors():
        data, mime = service.image(
            who, item_id, clear=reveal, charge=service.settings.review_api_view_seconds
        )
    return Response(data, media_type=mime, headers={"Cache-Control": "no-store"})


@router.post("/items/{item_id}/assessments", response_model=OutcomeOut)
def assess(
    request: Request, item_id: ItemId, decision: Decision, who: Principal = Depends(analyst)
) -> OutcomeOut:
    with domain_errors():
        outcome = get_service(request).assess(who, item_id, decision.category, decision.severity)
    return OutcomeOut(**vars(outcome))


@router.get("/adjudication", response_model=list[ItemOut])
def disputed(request: Request, who: Principal = Depends(senior)) -> list[ItemOut]:
    return [_item(v) for v in get_service(request).disputed(who)]


@router.post("/items/{item_id}/adjudication", response_model=OutcomeOut)
def adjudicate(
    request: Request, item_id: ItemId, decision: Decision, who: Principal = Depends(senior)
) -> OutcomeOut:
    with domain_errors():
        outcome = get_service(request).adjudicate(
            who, item_id, decision.category, decision.severity
        )
    return OutcomeOut(**vars(outcome))


@router.get("/audit", response_model=list[AuditOut])
def audit(
    request: Request, before: BeforeId = None, who: Principal = Depends(admin)
) -> list[AuditOut]:
    """The audit log, newest first, 200 at a time (read-only: no route changes it)."""
    rows = get_service(request).audit_log(limit=200, before_id=before)
    return [
        AuditOut(
            id=r.id,
            at=r.at,
            actor=r.actor,
            role=r.role,
            action=r.action,
            subject_type=r.subject_type,
            subject_id=r.subject_id,
            detail=r.detail,
        )
        for r in rows
    ]
