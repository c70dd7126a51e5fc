"""Hasher-Matcher-Actioner's hashing and matching endpoints (issue 17), so a platform that
integrated Meta's HMA can point at orbweaver: `/h/hash`, `/m/lookup` and `/m/raw_lookup`, in
the shapes HMA's API documents (its OpenMediaMatch `hashing` and `matching` blueprints).

- `GET /h/hash?url=...[&types=a,b]`: the URL's signals, `{signal_type: value}` (only where the
  deployment fetches URLs for the Shield API, `shield_url_enabled`); `POST /h/hash` with one
  multipart file whose field name is its content type (`photo` or `video`).
- `GET /m/raw_lookup?signal_type=&signal=[&banks=A,B][&include_distance=true]`:
  `{"matches": [bank_content_id, ...]}`, or with distances
  `{"matches": [{"bank_content_id": id, "distance": "4"}]}` (HMA's distance is a string).
- `GET /m/lookup?signal_type=&signal=[&banks=A,B]`: `{bank name: [{"bank_content_id",
  "distance"}]}`; with `url=` instead, or `POST /m/lookup` with a file, keyed by signal type
  first.

Differences, on purpose: the caller is an API client with the `shield` scope (HTTP basic, as
for the Shield API; HMA's key is optional), and every orbweaver rule applies to both lookups
(disabled banks and entries, per-bank distances, negative banks), where HMA's raw lookup skips
its enable checks. `bank_content_id` is the bank entry's id. HMA's sampling (`seed`,
`bypass_coinflip`) has nothing to act on here: every enabled bank matches every time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from orbweaver.access import ClientInfo
from orbweaver.banks import Match
from orbweaver.signals import MediaSignals, signal_types, signal_value
from orbweaver.web.auth import auth_first_route, charge, require_scope
from orbweaver.web.context import WebContext, get_context
from orbweaver.web.shield import ERRORS, _ensure_loaded, _hash, charge_pixels

router = APIRouter(tags=["hma"], route_class=auth_first_route("shield"))
hma_client = require_scope("shield")

CONTENT_TYPES = {"photo": "image/unknown", "video": "video/unknown"}
"""HMA's content type names, as the media type our hashing takes."""


def _banks(banks: str | None) -> set[str] | None:
    return {b for b in banks.split(",") if b} if banks else None


def _lookup(ctx: WebContext, signal_type: str, signal: str, banks: set[str] | None) -> list[Match]:
    kind = signal_types().get(signal_type)
    if kind is None:
        raise HTTPException(400, f"No such SignalType '{signal_type}'")
    try:
        value = kind.normalize(signal)
    except ValueError as exc:
        raise HTTPException(400, f"invalid signal: {exc}") from exc
    _ensure_loaded(ctx)
    matcher = ctx.matcher.matcher
    found = (
        matcher.match_exact(signal_type, value)
        if kind.exact
        else matcher.match_near(signal_type, value)
    )
    return [m for m in found if banks is None or m.bank in banks]


def _by_bank(matches: list[Match]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m in sorted(matches, key=lambda m: (m.bank, m.entry_id)):
        out.setdefault(m.bank, []).append(
            {"bank_content_id": m.entry_id, "distance": str(m.distance)}
        )
    return out


def _signals(media: MediaSignals, types: str | None) -> dict[str, str]:
    """The media's value of every registered type it has, or of those named in `types`."""
    known = signal_types()
    wanted = [t.strip() for t in types.split(",") if t.strip()] if types else list(known)
    for name in wanted:
        if name not in known:
            raise HTTPException(400, f"signal type '{name}' doesn't exist or is disabled")
    if types is not None and not wanted:
        raise HTTPException(400, "empty signal type selection")
    out: dict[str, str] = {}
    for name in wanted:
        value = signal_value(media, name)
        if value is not None:
            out[name] = value
    return out


async def _hash_upload(ctx: WebContext, client: ClientInfo, request: Request) -> MediaSignals:
    """The one file of a multipart upload, its field named `photo` or `video`, hashed."""
    form = await request.form()
    files = [(name, v) for name, v in form.multi_items() if isinstance(v, UploadFile)]
    if not files:
        raise HTTPException(400, "Missing multipart/form-data file upload")
    if len(files) > 1:
        raise HTTPException(400, "Only one file allowed per request")
    field, upload = files[0]
    mime_type = CONTENT_TYPES.get(field)
    if mime_type is None:
        raise HTTPException(400, f"no such content_type: '{field}'")
    data = await upload.read(ctx.settings.shield_max_upload_bytes + 1)
    if len(data) > ctx.settings.shield_max_upload_bytes:
        raise HTTPException(413, "upload too large")
    charge(ctx, client)
    charge_pixels(ctx, client, data, mime_type)
    media, _ = await run_in_threadpool(_hash, ctx, data, mime_type)
    return media


async def _hash_url(
    ctx: WebContext, client: ClientInfo, url: str, content_type: str | None
) -> MediaSignals:
    if not ctx.settings.shield_url_enabled or ctx.url_fetcher is None:
        raise HTTPException(403, "Hashing by URL is disabled on this deployment")
    charge(ctx, client)
    fetcher = ctx.url_fetcher
    try:
        fetched = await run_in_threadpool(
            fetcher.fetch, url, max_bytes=ctx.settings.shield_max_upload_bytes
        )
    except ValueError as exc:
        raise HTTPException(400, f"cannot fetch {url!r}: {exc}") from exc
    mime_type = CONTENT_TYPES.get(content_type or "", fetched.mime_type)
    if not mime_type.startswith(("image/", "video/")):
        raise HTTPException(400, f"unsupported url ContentType: '{fetched.mime_type}'")
    charge_pixels(ctx, client, fetched.content, mime_type)
    media, _ = await run_in_threadpool(_hash, ctx, fetched.content, mime_type)
    return media


@router.get("/h/hash", responses=ERRORS)
async def hash_get(
    request: Request,
    url: str | None = None,
    content_type: str | None = None,
    types: str | None = None,
    client: ClientInfo = Depends(hma_client),
) -> dict[str, str]:
    """HMA `GET /h/hash`: fetch a URL and return its signals."""
    if url is None:
        raise HTTPException(400, "url is required")
    ctx = get_context(request)
    return _signals(await _hash_url(ctx, client, url, content_type), types)


@router.post("/h/hash", responses=ERRORS)
async def hash_post(
    request: Request, types: str | None = None, client: ClientInfo = Depends(hma_client)
) -> dict[str, str]:
    """HMA `POST /h/hash`: one uploaded file (field `photo` or `video`), its signals."""
    ctx = get_context(request)
    return _signals(await _hash_upload(ctx, client, request), types)


@router.get("/m/raw_lookup", responses=ERRORS)
def raw_lookup(
    request: Request,
    signal: str,
    signal_type: str,
    banks: str | None = None,
    include_distance: bool = False,
    client: ClientInfo = Depends(hma_client),
) -> dict[str, list[Any]]:
    """HMA `GET /m/raw_lookup`: the matching entries' ids (with distances if asked)."""
    ctx = get_context(request)
    charge(ctx, client)
    found = sorted(_lookup(ctx, signal_type, signal, _banks(banks)), key=lambda m: m.entry_id)
    if include_distance:
        return {
            "matches": [{"bank_content_id": m.entry_id, "distance": str(m.distance)} for m in found]
        }
    return {"matches": [m.entry_id for m in found]}


@router.get("/m/lookup", responses=ERRORS)
async def lookup_get(
    request: Request,
    signal: str | None = None,
    signal_type: str | None = None,
    url: str | None = None,
    content_type: str | None = None,
    types: str | None = None,
    banks: str | None = None,
    client: ClientInfo = Depends(hma_client),
) -> dict[str, Any]:
    """HMA `GET /m/lookup`: matches by bank for one signal; for a URL, by signal type first."""
    ctx = get_context(request)
    wanted = _banks(banks)
    if url:
        media = await _hash_url(ctx, client, url, content_type)
        return _lookup_all(ctx, _signals(media, types), wanted, signal_type)
    if not signal or not signal_type:
        raise HTTPException(400, "Either url or both signal and signal_type are required")
    charge(ctx, client)
    return _by_bank(await run_in_threadpool(_lookup, ctx, signal_type, signal, wanted))


@router.post("/m/lookup", responses=ERRORS)
async def lookup_post(
    request: Request,
    types: str | None = None,
    banks: str | None = None,
    client: ClientInfo = Depends(hma_client),
) -> dict[str, Any]:
    """HMA `POST /m/lookup`: one uploaded file, its matches by signal type, then bank."""
    ctx = get_context(request)
    media = await _hash_upload(ctx, client, request)
    return _lookup_all(ctx, _signals(media, types), _banks(banks), None)


def _lookup_all(
    ctx: WebContext, signals: dict[str, str], banks: set[str] | None, only: str | None
) -> dict[str, Any]:
    out = {name: _by_bank(_lookup(ctx, name, value, banks)) for name, value in signals.items()}
    return out.get(only, {}) if only is not None else out
