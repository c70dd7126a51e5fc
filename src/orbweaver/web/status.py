"""Liveness and readiness, for load balancers and orchestrators.

`/status/live` says the process answers. `/status` says this worker can give correct verdicts:
503 while its index loads and when it has not refreshed from the store for too long.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orbweaver.web.context import get_context

router = APIRouter(tags=["status"])


class Liveness(BaseModel):
    status: str


class ReadinessOut(BaseModel):
    status: str
    last_refresh: str | None
    age_s: float | None


@router.get("/status/live", response_model=Liveness)
def live() -> Liveness:
    return Liveness(status="alive")


@router.get(
    "/status",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Index loading or stale."}},
)
def ready(request: Request) -> JSONResponse:
    state = get_context(request).matcher.readiness()
    body = ReadinessOut(
        status=state.state,
        last_refresh=state.last_refresh.isoformat() if state.last_refresh else None,
        age_s=round(state.age_s, 3) if state.age_s is not None else None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if state.ready else 503)
