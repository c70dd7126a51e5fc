"""The Shield API: providers check uploads against the banks, in C3P's Arachnid Shield shapes.

`arachnid-shield-sdk` pointed at orbweaver (`ARACHNID_SHIELD_URL`) works unchanged: the paths,
bodies and error shape below are those its models parse. Only hashes and the verdict leave this
module; bytes live in memory for the length of the request, and a row is written only when the
deployment turns retention on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from orbweaver.access import ClientInfo
from orbweaver.banks import Match
from orbweaver.signals import MediaSignals, signal_types
from orbweaver.store.models import BankEntry, Media, ShieldLookup
from orbweaver.web.auth import auth_first_route, charge, require_scope
from orbweaver.web.context import WebContext, get_context
from orbweaver.web.errors import ErrorDetail
from orbweaver.web.verdict import (
    Classification,
    MatchType,
    PDQFormatError,
    Verdict,
    classify,
    decide,
    pdq_to_hex,
    sha1_base32,
)

router = APIRouter(prefix="/v1", tags=["shield"], route_class=auth_first_route("shield"))
shield_client = require_scope("shield")
NEAR_DETAILS_MAX = 10
NEAR_FRAMES_MAX = 120
"""Matched frames reported per matched video (two minutes at one frame a second)."""

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorDetail, "description": text}
    for code, text in {
        400: "Malformed request.",
        401: "Missing or wrong API credentials.",
        403: "The API key may not use the Shield API.",
        413: "Body larger than the deployment accepts.",
        415: "Media type not scanned.",
        422: "Media that cannot be decoded, or an invalid body.",
        429: "Rate limit exceeded; see Retry-After.",
        503: "The match index is still loading; retry shortly.",
    }.items()
}


class NearMatchDetail(BaseModel):
    """A known media that the submitted one is visually close to."""

    timestamp: float = Field(0.0, description="Seconds into a video; 0.0 for still images.")
    sha1_base32: str = Field(description="SHA-1 of the known media, base 32; '' if unknown.")
    sha256_hex: str = Field(description="SHA-256 of the known media, hex; '' if unknown.")
    classification: Classification | None


class MatchExplanation(BaseModel):
    """Why the answer is what it is: one bank entry that decided it (an orbweaver extension;
    Project Arachnid's SDK ignores fields it does not know)."""

    bank: str
    entry_id: int
    source: str = Field("", description="Where the entry came from, as its list says.")
    member: str | None = Field(None, description="The exchange member that shared it.")
    tags: list[str] | None = Field(None, description="The exchange's tags on it.")
    signal_type: str
    distance: int
    category: str


class ScannedMedia(BaseModel):
    size_bytes: int
    sha1_base32: str
    sha256_hex: str
    classification: Classification
    match_type: MatchType | None
    near_match_details: list[NearMatchDetail]
    match_explanations: list[MatchExplanation] = Field(
        default_factory=list, description="The bank entries behind the answer (extension)."
    )


class PDQMatch(BaseModel):
    classification: Classification
    match_type: MatchType | None
    near_match_details: NearMatchDetail | None
    match_explanations: list[MatchExplanation] = Field(
        default_factory=list, description="The bank entries behind the answer (extension)."
    )


class ScannedPDQHashes(BaseModel):
    scanned_hashes: dict[str, PDQMatch] = Field(
        description="One answer per submitted hash, keyed by the hash as it was sent."
    )


class ScanMediaFromPdq(BaseModel):
    hashes: list[str] = Field(description="Base64 PDQ hashes (32 bytes each).")


class ScanMediaFromUrl(BaseModel):
    url: str


def _ensure_loaded(ctx: WebContext) -> None:
    """Refuse rather than answer `no-known-match` from an index that is not there yet."""
    if not ctx.matcher.loaded:
        raise HTTPException(
            503, "the match index is loading; retry shortly", headers={"Retry-After": "5"}
        )


# --- /v1/media/ -------------------------------------------------------------------------------

RAW_BODY = {
    "requestBody": {
        "required": True,
        "description": "The raw bytes of the media; its type in Content-Type.",
        "content": {
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "video/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post("/media/", response_model=ScannedMedia, responses=ERRORS, openapi_extra=RAW_BODY)
async def scan_media(request: Request, client: ClientInfo = Depends(shield_client)) -> ScannedMedia:
    """Scan raw media bytes for exact (SHA-1/SHA-256/MD5) and near (PDQ; vPDQ for videos)
    matches."""
    ctx = get_context(request)
    charge(ctx, client)
    mime_type = _media_type(request.headers.get("content-type", ""))
    data = await request.body()  # bounded by BodyLimit
    if not data:
        raise HTTPException(400, "empty body: send the media's bytes")
    _ensure_loaded(ctx)
    charge_pixels(ctx, client, data, mime_type)
    return await run_in_threadpool(scan_bytes, ctx, client, data, mime_type, "media")


def charge_pixels(ctx: WebContext, client: ClientInfo, data: bytes, mime_type: str) -> None:
    """Charge what the decode will cost beyond the request's token: one token per
    `shield_pixels_per_token` pixels it will materialise (read from the header)."""
    if not mime_type.startswith("image/"):
        return
    from orbweaver.signals import decode_cost

    cost = decode_cost(data)
    if cost is not None and cost.decoded_pixels <= ctx.settings.shield_max_decoded_pixels:
        extra = cost.decoded_pixels // max(1, ctx.settings.shield_pixels_per_token)
        if extra:
            charge(ctx, client, extra)


def _media_type(content_type: str) -> str:
    mime_type = content_type.split(";", 1)[0].strip().lower()
    if not mime_type.startswith(("image/", "video/")):
        raise HTTPException(
            415,
            f"media type {mime_type or '(none)'!r} is not scanned: send image/* or video/*",
        )
    return mime_type


def scan_bytes(
    ctx: WebContext, client: ClientInfo, data: bytes, mime_type: str, endpoint: str
) -> ScannedMedia:
    """Hash, match and answer; CPU-bound, so it runs in the threadpool."""
    hashes, decode_error = _hash(ctx, data, mime_type)
    result = ctx.matcher.matcher.match(hashes)
    verdict = decide(result.matches)
    if decode_error is not None and verdict.match_type is None:
        raise HTTPException(422, f"could not decode the {mime_type} upload: {decode_error}")
    near = _near_details(ctx, verdict) if verdict.match_type == "near" else []
    _retain(ctx, client, endpoint, [(hashes, verdict)])
    return ScannedMedia(
        size_bytes=hashes.size_bytes,
        sha1_base32=sha1_base32(hashes.sha1),
        sha256_hex=hashes.sha256,
        classification=verdict.classification,
        match_type=verdict.match_type,
        near_match_details=near,
        match_explanations=_explanations(ctx, verdict.evidence),
    )


def _hash(ctx: WebContext, data: bytes, mime_type: str) -> tuple[MediaSignals, str | None]:
    """Every registered signal type the upload has: those of its bytes always (the crypto
    hashes), those of its picture (PDQ) for images, decoded within the configured bounds.

    A file that does not decode still gets exact matching (a truncated known file is still
    known); the decode error is returned for the caller to report when nothing matched.
    """
    from orbweaver.signals import (
        SignalError,
        compute_exact_signals,
        compute_signals,
        decode_cost,
    )

    if mime_type.startswith("video/"):
        return _hash_video(ctx, data)
    if not mime_type.startswith("image/"):
        return compute_exact_signals(data), None
    cost = decode_cost(data)
    budget = ctx.settings.shield_max_decoded_pixels
    if cost is not None and cost.decoded_pixels > budget:
        return compute_exact_signals(data), (
            f"{cost.format} of {cost.width}x{cost.height} would decode to "
            f"{cost.decoded_pixels:,} pixels, over this server's budget of {budget:,}"
        )
    if not ctx.decodes.acquire(timeout=ctx.settings.shield_decode_wait_s):
        raise HTTPException(
            503, "too many uploads are being decoded; retry shortly", headers={"Retry-After": "5"}
        )
    try:
        signals = compute_signals(
            data, max_bytes=ctx.settings.max_image_bytes, max_pixels=ctx.settings.max_image_pixels
        )
    except SignalError as exc:
        return compute_exact_signals(data), str(exc)
    finally:
        ctx.decodes.release()
    if not signals.is_image:
        return signals, "not an image"
    return signals, None


def _hash_video(ctx: WebContext, data: bytes) -> tuple[MediaSignals, str | None]:
    """A video upload's exact hashes and vPDQ (one PDQ a second), under the decode semaphore
    and `VideoLimits`' caps; a video that cannot be hashed still gets exact matching, and
    bytes whose leading bytes are no video container at all get exact matching only (as any
    `video/*` upload did before vPDQ)."""
    from orbweaver.signals import (
        SignalError,
        VideoLimits,
        compute_exact_signals,
        compute_signals,
        is_video_mime,
        sniff_mime,
    )

    if not is_video_mime(sniff_mime(data[:1024])):
        return compute_exact_signals(data), None
    if not ctx.decodes.acquire(timeout=ctx.settings.shield_decode_wait_s):
        raise HTTPException(
            503, "too many uploads are being decoded; retry shortly", headers={"Retry-After": "5"}
        )
    try:
        signals = compute_signals(
            data,
            max_bytes=max(len(data), 1),
            video_limits=VideoLimits.from_settings(ctx.settings),
        )
    except SignalError as exc:
        return compute_exact_signals(data), str(exc)
    finally:
        ctx.decodes.release()
    return signals, None


# --- /v1/pdq/ ---------------------------------------------------------------------------------


# Batches up to this many hashes are matched on the event loop (well under a millisecond a hash,
# less than a threadpool round trip); bigger ones go to the threadpool (the kernels drop the GIL).
INLINE_HASHES_MAX = 16


@router.post("/pdq/", response_model=ScannedPDQHashes, responses=ERRORS)
async def scan_pdq(
    body: ScanMediaFromPdq, request: Request, client: ClientInfo = Depends(shield_client)
) -> Response:
    """Match PDQ hashes computed on the provider's side; only the hashes are sent."""
    ctx = get_context(request)
    if len(body.hashes) > ctx.settings.shield_pdq_batch_max:
        raise HTTPException(
            413, f"{len(body.hashes)} hashes; at most {ctx.settings.shield_pdq_batch_max} a request"
        )
    queries = _decode_hashes(body.hashes)
    charge(ctx, client, len(queries))
    _ensure_loaded(ctx)
    if len(queries) <= INLINE_HASHES_MAX:
        verdicts = _match_pdq(ctx, queries)
    else:
        verdicts = await run_in_threadpool(_match_pdq, ctx, queries)
    if ctx.settings.shield_retention or any(v.evidence for v in verdicts.values()):
        answers = await run_in_threadpool(_pdq_answers, ctx, client, queries, verdicts)
    else:  # the common case, all misses: nothing to read or write
        answers = _pdq_answers(ctx, client, queries, verdicts)
    # Built as plain JSON (the shapes of `ScannedPDQHashes`, which documents them), not
    # validated again through pydantic on the way out.
    return JSONResponse({"scanned_hashes": answers})


def _match_pdq(ctx: WebContext, queries: dict[str, str]) -> dict[str, Verdict]:
    """One batched index search for every hash of the request."""
    sent_hashes = list(queries)
    found = ctx.matcher.matcher.match_pdq_many([queries[s] for s in sent_hashes])
    return {sent: decide(matches) for sent, matches in zip(sent_hashes, found, strict=True)}


def _pdq_answers(
    ctx: WebContext, client: ClientInfo, queries: dict[str, str], verdicts: dict[str, Verdict]
) -> dict[str, dict[str, Any]]:
    """Each hash's `PDQMatch` as JSON; reads the store only for matches, writes only when
    retention is on."""
    details = _known_media(ctx, [v.evidence[0].entry_id for v in verdicts.values() if v.evidence])
    answers: dict[str, dict[str, Any]] = {}
    for sent, verdict in verdicts.items():
        top = verdict.evidence[0] if verdict.evidence else None
        answers[sent] = {
            "classification": verdict.classification,
            "match_type": verdict.match_type,
            "near_match_details": _detail(top, details).model_dump() if top else None,
        }
        if verdict.evidence:  # a miss keeps the SDK's exact shape
            answers[sent]["match_explanations"] = [
                e.model_dump() for e in _explanations(ctx, verdict.evidence)
            ]
    _retain(
        ctx,
        client,
        "pdq",
        [(_pdq_only(queries[s]), v) for s, v in verdicts.items()],
    )
    return answers


def _pdq_only(pdq_hex: str) -> MediaSignals:
    """What the log keeps of a `/v1/pdq/` lookup: the hash, nothing else was sent."""
    return MediaSignals(sha256="", sha1="", md5="", size_bytes=0, mime_type=None, pdq=pdq_hex)


def _decode_hashes(sent: list[str]) -> dict[str, str]:
    queries: dict[str, str] = {}
    for i, text in enumerate(sent):
        try:
            queries[text] = pdq_to_hex(text)
        except PDQFormatError as exc:
            raise HTTPException(400, f"hashes[{i}]: {exc}") from exc
    return queries


# --- /v1/url/ ---------------------------------------------------------------------------------


@router.post("/url/", response_model=ScannedMedia, responses={**ERRORS, 501: ERRORS[400]})
def scan_url(
    body: ScanMediaFromUrl, request: Request, client: ClientInfo = Depends(shield_client)
) -> ScannedMedia:
    """Fetch a URL and scan what it serves; only where the deployment enables it."""
    ctx = get_context(request)
    if not ctx.settings.shield_url_enabled:
        raise HTTPException(501, "scanning by URL is not enabled on this deployment")
    if ctx.url_fetcher is None:
        raise HTTPException(
            503, "scanning by URL needs the crawl's network policy, which is not available"
        )
    charge(ctx, client)
    _ensure_loaded(ctx)
    try:
        fetched = ctx.url_fetcher.fetch(body.url, max_bytes=ctx.settings.shield_max_upload_bytes)
    except ValueError as exc:  # refused by the network policy, or too large
        raise HTTPException(400, f"cannot fetch {body.url!r}: {exc}") from exc
    mime_type = _media_type(fetched.mime_type)
    charge_pixels(ctx, client, fetched.content, mime_type)
    return scan_bytes(ctx, client, fetched.content, mime_type, "url")


# --- shared -----------------------------------------------------------------------------------


def _explanations(ctx: WebContext, evidence: Sequence[Match]) -> list[MatchExplanation]:
    """The entries behind a verdict (its evidence, at most NEAR_DETAILS_MAX), explained."""
    if not evidence:
        return []
    from orbweaver.banks import explain_matches

    shown = list(evidence[:NEAR_DETAILS_MAX])
    return [MatchExplanation.model_validate(e) for e in explain_matches(ctx.store, shown)]


def _near_details(ctx: WebContext, verdict: Verdict) -> list[NearMatchDetail]:
    """One detail per near match; for a video matched by vPDQ, one per matched frame of the
    upload, with its `timestamp` (as Project Arachnid answers for videos)."""
    evidence = list(verdict.evidence[:NEAR_DETAILS_MAX])
    known = _known_media(ctx, [m.entry_id for m in evidence])
    details: list[NearMatchDetail] = []
    for match in evidence:
        detail = _detail(match, known)
        if match.video is None:
            details.append(detail)
            continue
        frames = match.video.query_timestamps[:NEAR_FRAMES_MAX]
        details.extend(detail.model_copy(update={"timestamp": t}) for t in frames)
    return details


def _detail(match: Match, known: dict[int, tuple[str, str]]) -> NearMatchDetail:
    sha256, sha1 = known.get(match.entry_id, ("", ""))
    return NearMatchDetail(
        timestamp=0.0,
        sha1_base32=sha1_base32(sha1),
        sha256_hex=sha256,
        classification=classify(match.category),
    )


def _known_media(ctx: WebContext, entry_ids: list[int]) -> dict[int, tuple[str, str]]:
    """SHA-256 and SHA-1 of the media the hotline knows behind matched near-type entries (PDQ),
    found by the `media` column named after the entry's type.

    Only entries that matched are looked up, so nothing about other entries can leak. Two
    indexed lookups (entries by primary key, then media by the signal) rather than one join:
    without table statistics SQLite planned the join as a walk over every PDQ entry of the banks
    (190 ms a lookup at 1M entries, growing with the banks).
    """
    if not entry_ids:
        return {}
    with ctx.store.engine.connect() as conn:
        # By primary key only: with `signal_type = 'pdq'` in the WHERE, SQLite chose the
        # (signal_type, signal) index and walked it; the type is checked here instead.
        rows = conn.execute(
            sa.select(BankEntry.id, BankEntry.signal_type, BankEntry.signal).where(
                BankEntry.id.in_(set(entry_ids))
            )
        ).all()
        traceable = _near_media_columns()
        by_type: dict[str, list[tuple[int, str]]] = {}
        for entry_id, kind, signal in rows:
            if kind in traceable:
                by_type.setdefault(kind, []).append((entry_id, signal))
        known: dict[int, tuple[str, str]] = {}
        for kind, signals in by_type.items():
            column = Media.__table__.c[kind]
            media = conn.execute(
                sa.select(column, Media.sha256, Media.sha1)
                .where(column.in_({signal for _, signal in signals}))
                .order_by(Media.id)
            ).all()
            first: dict[str, tuple[str, str]] = {}
            for value, sha256, sha1 in media:
                if value is not None:
                    first.setdefault(value, (sha256, sha1))
            known.update(
                (entry_id, first[signal]) for entry_id, signal in signals if signal in first
            )
    return known


def _near_media_columns() -> set[str]:
    """Near signal types that are also columns of `media` (PDQ): the ones a near match can be
    traced back to a known file by."""
    columns = Media.__table__.c
    return {name for name, kind in signal_types().items() if not kind.exact and name in columns}


def _retain(
    ctx: WebContext,
    client: ClientInfo,
    endpoint: str,
    items: list[tuple[MediaSignals, Verdict]],
) -> None:
    """Write verdict log rows, only where the deployment turned retention on."""
    if not ctx.settings.shield_retention:
        return
    at = ctx.clock.now()
    with ctx.store.session() as session:
        session.add_all(
            ShieldLookup(
                client_id=client.id,
                at=at,
                endpoint=endpoint,
                sha256=hashes.sha256 or None,
                sha1=hashes.sha1 or None,
                pdq=hashes.pdq,
                classification=verdict.classification,
                match_type=verdict.match_type,
                entry_ids=[m.entry_id for m in verdict.evidence],
            )
            for hashes, verdict in items
        )
