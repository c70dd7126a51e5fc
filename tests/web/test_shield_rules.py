"""The rules behind a Shield answer, each pinned on both sides (from the mutation run of
`web-verdict`, see TESTING.md): which match decides the verdict, how a hash may be sent, the
batch cap, undecodable uploads, the known media behind a near match, the documented errors.

Images are synthetic (seeded Pillow shapes); PDQ hashes are random bit strings.
"""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import datetime
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from test_web_shield import PDQ, flip, make_client, pdq_answer, synthetic_jpeg, wait_for

from orbweaver.banks import Match, create_bank, import_csv
from orbweaver.categories import (
    CSAM_POSTPUBESCENT,
    CSAM_PREPUBESCENT,
    HARMFUL_ABUSIVE,
    NOT_ACTIONABLE,
)
from orbweaver.clock import SettableClock
from orbweaver.signals import compute_signals
from orbweaver.store import Store
from orbweaver.store.models import Media
from orbweaver.web.verdict import (
    PDQFormatError,
    Verdict,
    classify,
    decide,
    pdq_to_base64,
    pdq_to_hex,
    sha1_base32,
)


def match(entry_id: int, category: str, signal_type: str = "pdq", distance: int = 0) -> Match:
    return Match("b", 1, entry_id, category, signal_type, distance)


# --- the verdict ------------------------------------------------------------------------------


def test_classifications_of_the_categories() -> None:
    assert classify(CSAM_PREPUBESCENT) == classify(CSAM_POSTPUBESCENT) == "csam"
    assert classify(HARMFUL_ABUSIVE) == "harmful-abusive-material"
    assert classify(NOT_ACTIONABLE) == "no-known-match"
    assert classify("a category nobody defined") == "no-known-match"


def test_no_match_and_not_actionable_only_make_no_verdict() -> None:
    assert decide([]) == Verdict("no-known-match", None, ())
    listed = [match(1, NOT_ACTIONABLE, "sha256"), match(2, NOT_ACTIONABLE, distance=3)]
    assert decide(listed) == Verdict("no-known-match", None, ())


def test_the_worst_classification_decides_and_only_its_matches_are_evidence() -> None:
    harmful_exact = match(1, HARMFUL_ABUSIVE, "sha256")
    csam_near = match(2, CSAM_POSTPUBESCENT, distance=12)
    listed = match(3, NOT_ACTIONABLE, "sha256")
    verdict = decide([harmful_exact, listed, csam_near])
    # csam outranks harmful-abusive even though the harmful match is exact
    assert verdict == Verdict("csam", "near", (csam_near,))
    assert decide([harmful_exact, listed]) == Verdict(
        "harmful-abusive-material", "exact", (harmful_exact,)
    )


def test_an_exact_match_makes_an_exact_verdict_with_only_exact_evidence() -> None:
    near = match(1, CSAM_PREPUBESCENT, distance=0)
    exact_md5 = match(7, CSAM_POSTPUBESCENT, "md5")
    exact_sha = match(5, CSAM_PREPUBESCENT, "sha256")
    verdict = decide([near, exact_md5, exact_sha])
    assert verdict == Verdict("csam", "exact", (exact_md5, exact_sha))  # in the matches' order
    # a signal type nobody registered is never taken for an exact one
    unknown = match(9, CSAM_PREPUBESCENT, "no-such-type", distance=0)
    assert decide([unknown]).match_type == "near"


def test_near_evidence_is_sorted_closest_first_then_by_entry() -> None:
    far = match(1, CSAM_PREPUBESCENT, distance=20)
    close_later = match(9, CSAM_POSTPUBESCENT, distance=4)
    close_first = match(3, CSAM_PREPUBESCENT, distance=4)
    verdict = decide([far, close_later, close_first])
    assert verdict.evidence == (close_first, close_later, far)
    assert verdict.classification == "csam" and verdict.match_type == "near"
    harmful = [match(4, HARMFUL_ABUSIVE, distance=9), match(2, HARMFUL_ABUSIVE, distance=9)]
    assert [m.entry_id for m in decide(harmful).evidence] == [2, 4]


# --- how hashes are sent ----------------------------------------------------------------------


def test_pdq_hash_forms() -> None:
    raw = bytes.fromhex(PDQ)
    assert pdq_to_hex(f"  {PDQ}\n") == PDQ  # surrounding blanks are dropped
    padded = base64.b64encode(raw).decode()
    assert padded.endswith("=")
    assert pdq_to_hex(padded) == pdq_to_hex(padded.rstrip("=")) == PDQ
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    assert "-" in urlsafe or "_" in urlsafe  # this hash has both alphabets' differences
    assert pdq_to_hex(urlsafe) == PDQ and pdq_to_hex(urlsafe.rstrip("=")) == PDQ
    assert pdq_to_base64(PDQ) == padded
    # 64 characters that are not hex are read as base64 (48 bytes: not a PDQ hash)
    sixty_four = base64.b64encode(bytes(range(48))).decode()
    assert len(sixty_four) == 64
    with pytest.raises(PDQFormatError, match="decodes to 48 bytes, a PDQ hash has 32"):
        pdq_to_hex(sixty_four)
    with pytest.raises(PDQFormatError, match="is not base64"):
        pdq_to_hex("!" * 44)
    with pytest.raises(PDQFormatError, match="decodes to 31 bytes"):
        pdq_to_hex(base64.b64encode(raw[:31]).decode())
    with pytest.raises(PDQFormatError, match="decodes to 33 bytes"):
        pdq_to_hex(base64.b64encode(raw + b"\0").decode())


def test_sha1_in_base32() -> None:
    digest = hashlib.sha1(b"benign").hexdigest()
    assert sha1_base32(digest) == base64.b32encode(bytes.fromhex(digest)).decode()
    assert len(sha1_base32(digest)) == 32
    assert sha1_base32("") == ""


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def hotline(store: Store, clock: SettableClock) -> Store:
    create_bank(store, clock, "hotline", threshold=31)
    body = f"pdq,{PDQ},csam_postpubescent,test\n"
    import_csv(store, clock, "hotline", io.StringIO("signal_type,signal,category,source\n" + body))
    return store


def started(
    store: Store, clock: SettableClock, **settings: Any
) -> tuple[TestClient, tuple[str, str]]:
    client, auth = make_client(store, clock, **settings)
    wait_for(lambda: client.get("/status").status_code == 200)
    return client, auth


def test_the_pdq_batch_cap_is_inclusive(hotline: Store, clock: SettableClock) -> None:
    client, auth = started(hotline, clock, shield_pdq_batch_max=3)
    try:
        hashes = [pdq_to_base64(flip(PDQ, b)) for b in (0, 2, 4, 6)]
        assert client.post("/v1/pdq/", json={"hashes": hashes[:3]}, auth=auth).status_code == 200
        refused = client.post("/v1/pdq/", json={"hashes": hashes}, auth=auth)
        assert refused.status_code == 413 and "at most 3 a request" in refused.json()["detail"]
    finally:
        client.__exit__(None, None, None)


def test_media_types_scanned_and_refused(hotline: Store, clock: SettableClock) -> None:
    client, auth = started(hotline, clock)
    try:
        upload = synthetic_jpeg(21)
        for content_type in ("image/jpeg", "IMAGE/JPEG; charset=binary", " image/jpeg "):
            answer = client.post(
                "/v1/media/", content=upload, headers={"content-type": content_type}, auth=auth
            )
            assert answer.status_code == 200, (content_type, answer.text)
        for content_type, named in (("application/pdf", "'application/pdf'"), ("", "'(none)'")):
            refused = client.post(
                "/v1/media/", content=upload, headers={"content-type": content_type}, auth=auth
            )
            assert refused.status_code == 415, content_type
            assert f"media type {named} is not scanned" in refused.json()["detail"]
        empty = client.post(
            "/v1/media/", content=b"", headers={"content-type": "image/jpeg"}, auth=auth
        )
        assert empty.status_code == 400 and "empty body" in empty.json()["detail"]
    finally:
        client.__exit__(None, None, None)


def test_an_undecodable_image_still_gets_exact_matching(store: Store, clock: SettableClock) -> None:
    """A file labelled image/* that does not decode: 422 when nothing matched, but a known
    file (known by its SHA-256) is still answered, exactly."""
    truncated = b"bytes labelled a picture, known to the hotline"
    create_bank(store, clock, "hotline", threshold=31)
    body = f"sha256,{hashlib.sha256(truncated).hexdigest()},csam_prepubescent,test\n"
    import_csv(store, clock, "hotline", io.StringIO("signal_type,signal,category,source\n" + body))
    client, auth = started(store, clock)
    try:
        known = client.post(
            "/v1/media/", content=truncated, headers={"content-type": "image/jpeg"}, auth=auth
        )
        assert known.status_code == 200, known.text
        assert known.json()["classification"] == "csam"
        assert known.json()["match_type"] == "exact"
        assert known.json()["sha256_hex"] == hashlib.sha256(truncated).hexdigest()
        assert known.json()["size_bytes"] == len(truncated)
        other = b"other bytes labelled a picture"
        unknown = client.post(
            "/v1/media/", content=other, headers={"content-type": "image/png"}, auth=auth
        )
        assert unknown.status_code == 422
        assert "could not decode the image/png upload" in unknown.json()["detail"]
    finally:
        client.__exit__(None, None, None)


def test_a_broken_video_still_gets_exact_matching(store: Store, clock: SettableClock) -> None:
    """Bytes that start like an MP4 but do not decode: exact matching only, 422 when nothing
    matched."""
    from orbweaver.sim.videos import SyntheticVideo, render_video

    video = render_video(SyntheticVideo(seed=63, seconds=1.0, fps=4, width=64, height=48))
    broken, other = video[:1500], video[:1400]
    create_bank(store, clock, "hotline", threshold=31)
    body = f"sha256,{hashlib.sha256(broken).hexdigest()},harmful_abusive,test\n"
    import_csv(store, clock, "hotline", io.StringIO("signal_type,signal,category,source\n" + body))
    client, auth = started(store, clock)
    try:
        headers = {"content-type": "video/mp4"}
        known = client.post("/v1/media/", content=broken, headers=headers, auth=auth)
        assert known.status_code == 200, known.text
        assert (known.json()["classification"], known.json()["match_type"]) == (
            "harmful-abusive-material",
            "exact",
        )
        unknown = client.post("/v1/media/", content=other, headers=headers, auth=auth)
        assert unknown.status_code == 422
        assert "could not decode the video/mp4 upload" in unknown.json()["detail"]
    finally:
        client.__exit__(None, None, None)


def test_a_near_match_names_the_known_media_behind_it(hotline: Store, clock: SettableClock) -> None:
    """The hotline has seen the picture whose PDQ the entry holds: a near match reports that
    picture's SHA-256 and SHA-1 (the first one seen when two share the PDQ), those of the
    closest entry when two match."""
    picture = synthetic_jpeg(24)
    signals = compute_signals(picture)
    with hotline.session() as session:
        for n, sha in enumerate((signals.sha256, hashlib.sha256(b"second").hexdigest())):
            session.add(
                Media(
                    sha256=sha,
                    sha1=signals.sha1 if n == 0 else hashlib.sha1(b"second").hexdigest(),
                    md5=signals.md5,
                    pdq=PDQ,  # the bank entry's PDQ
                    pdq_quality=100,
                    size_bytes=signals.size_bytes,
                    mime_type="image/jpeg",
                    first_seen_at=datetime(2026, 11, 1),
                )
            )
    # a second entry, farther from the query, whose picture the hotline has not seen
    body = f"pdq,{flip(PDQ, 20)},csam_prepubescent,test\n"
    import_csv(
        hotline, clock, "hotline", io.StringIO("signal_type,signal,category,source\n" + body)
    )
    client, auth = started(hotline, clock)
    try:
        answer = pdq_answer(client, auth, PDQ)
        explained = cast(list[dict[str, object]], answer["match_explanations"])
        assert [e["distance"] for e in explained] == [0, 20]
        assert answer["near_match_details"] == {
            "timestamp": 0.0,
            "sha1_base32": sha1_base32(signals.sha1),
            "sha256_hex": signals.sha256,
            "classification": "csam",
        }
    finally:
        client.__exit__(None, None, None)


def test_the_errors_are_documented(hotline: Store, clock: SettableClock) -> None:
    client, _ = make_client(hotline, clock, start=False, web_api_docs=True)
    with client:
        paths = client.get("/openapi.json").json()["paths"]
    codes = {"200", "400", "401", "403", "413", "415", "422", "429", "503"}
    for path, extra in (("/v1/media/", set()), ("/v1/pdq/", set()), ("/v1/url/", {"501"})):
        documented = paths[path]["post"]["responses"]
        assert set(documented) == codes | extra, path
        assert "Retry-After" in documented["429"]["description"]
        assert "loading" in documented["503"]["description"]
    media_body = paths["/v1/media/"]["post"]["requestBody"]
    assert media_body["required"] is True
    assert set(media_body["content"]) == {"image/*", "video/*"}


def test_an_upload_near_two_entries_gets_one_detail_each_closest_first(
    store: Store, clock: SettableClock
) -> None:
    upload = synthetic_jpeg(25)
    pdq = compute_signals(upload).pdq
    assert pdq is not None
    create_bank(store, clock, "hotline", threshold=31)
    rows = f"pdq,{flip(pdq, 10)},csam_prepubescent,test\npdq,{pdq},harmful_abusive,test\n"
    rows += f"pdq,{flip(pdq, 4)},csam_postpubescent,test\n"
    import_csv(store, clock, "hotline", io.StringIO("signal_type,signal,category,source\n" + rows))
    client, auth = started(store, clock)
    try:
        answer = client.post(
            "/v1/media/", content=upload, headers={"content-type": "image/jpeg"}, auth=auth
        ).json()
        assert (answer["classification"], answer["match_type"]) == ("csam", "near")
        # the csam entries only (the harmful one is closer but does not decide), closest first
        assert [e["distance"] for e in answer["match_explanations"]] == [4, 10]
        assert [d["classification"] for d in answer["near_match_details"]] == ["csam", "csam"]
    finally:
        client.__exit__(None, None, None)


def test_url_scanning_refusals(hotline: Store, clock: SettableClock) -> None:
    from orbweaver.web.app import create_app
    from orbweaver.web.context import FetchedMedia
    from orbweaver.web.settings import WebSettings

    class Refusing:
        def fetch(self, url: str, *, max_bytes: int) -> FetchedMedia:
            raise ValueError("address not allowed")

    class Page:
        def fetch(self, url: str, *, max_bytes: int) -> FetchedMedia:
            return FetchedMedia(b"<html></html>", "text/html; charset=utf-8")

    username, secret = make_client(hotline, clock, start=False)[1]
    body = {"url": "http://example.test/a.jpg"}
    cases = [
        (WebSettings(), None, 501, "not enabled"),
        (WebSettings(shield_url_enabled=True), None, 503, "network policy"),
        (WebSettings(shield_url_enabled=True), Refusing(), 400, "address not allowed"),
        (WebSettings(shield_url_enabled=True), Page(), 415, "'text/html' is not scanned"),
    ]
    for settings, fetcher, code, text in cases:
        with TestClient(create_app(settings, hotline, clock, url_fetcher=fetcher)) as client:
            wait_for(lambda c=client: c.get("/status").status_code == 200)
            answer = client.post("/v1/url/", json=body, auth=(username, secret))
        assert answer.status_code == code, (code, answer.text)
        assert text in answer.json()["detail"]


def test_near_details_are_capped_per_answer_and_per_video(store: Store) -> None:
    """At most NEAR_DETAILS_MAX matches are detailed, and at most NEAR_FRAMES_MAX frames of
    each matched video (one detail per frame)."""
    from types import SimpleNamespace

    from orbweaver.banks.matcher import VideoMatch
    from orbweaver.web.shield import NEAR_DETAILS_MAX, NEAR_FRAMES_MAX, _near_details

    assert (NEAR_DETAILS_MAX, NEAR_FRAMES_MAX) == (10, 120)  # two minutes at a frame a second
    frames = tuple(float(t) for t in range(NEAR_FRAMES_MAX + 5))
    video = VideoMatch(90.0, 90.0, frames, frames)
    matches = tuple(Match("b", 1, i, CSAM_PREPUBESCENT, "vpdq", 0, video=video) for i in range(12))
    ctx = cast(Any, SimpleNamespace(store=store))
    details = _near_details(ctx, Verdict("csam", "near", matches))
    assert len(details) == NEAR_DETAILS_MAX * NEAR_FRAMES_MAX
    assert [d.timestamp for d in details[:NEAR_FRAMES_MAX]] == list(frames[:NEAR_FRAMES_MAX])
    stills = tuple(match(i, HARMFUL_ABUSIVE, distance=i) for i in range(12))
    shown = _near_details(ctx, Verdict("harmful-abusive-material", "near", stills))
    assert len(shown) == NEAR_DETAILS_MAX and {d.timestamp for d in shown} == {0.0}


def test_retained_lookups_keep_both_hashes_of_an_upload(
    hotline: Store, clock: SettableClock
) -> None:
    import sqlalchemy as sa

    from orbweaver.store.models import ShieldLookup

    upload = synthetic_jpeg(26)
    client, auth = started(hotline, clock, shield_retention=True)
    try:
        headers = {"content-type": "image/jpeg"}
        assert client.post("/v1/media/", content=upload, headers=headers, auth=auth).is_success
        assert pdq_answer(client, auth, PDQ)["classification"] == "csam"
    finally:
        client.__exit__(None, None, None)
    with hotline.session() as session:
        rows = session.scalars(sa.select(ShieldLookup).order_by(ShieldLookup.id)).all()
        kept = [(r.endpoint, r.sha256, r.sha1, r.pdq) for r in rows]
    assert kept == [
        (
            "media",
            hashlib.sha256(upload).hexdigest(),
            hashlib.sha1(upload).hexdigest(),
            compute_signals(upload).pdq,
        ),
        ("pdq", None, None, PDQ),  # nothing but the hash was sent
    ]


def test_an_upload_exactly_at_the_pixel_budget_is_decoded(
    hotline: Store, clock: SettableClock
) -> None:
    from orbweaver.signals import decode_cost

    upload = synthetic_jpeg(27)
    cost = decode_cost(upload)
    assert cost is not None
    headers = {"content-type": "image/jpeg"}
    for budget, code in ((cost.decoded_pixels, 200), (cost.decoded_pixels - 1, 422)):
        client, auth = started(hotline, clock, shield_max_decoded_pixels=budget)
        try:
            answer = client.post("/v1/media/", content=upload, headers=headers, auth=auth)
        finally:
            client.__exit__(None, None, None)
        assert answer.status_code == code, (budget, answer.text)
    assert "over this server's budget" in answer.json()["detail"]


def test_a_zero_pixels_per_token_setting_charges_per_pixel_not_crashes(
    hotline: Store, clock: SettableClock
) -> None:
    """0 pixels a token is taken as 1: a 256x256 upload costs 65 536 tokens (and one for the
    request), within a burst of 70 000 once, not twice."""
    client, auth = started(
        hotline,
        clock,
        shield_pixels_per_token=0,
        shield_rate_burst=70_000,
        shield_rate_per_minute=1,
    )
    try:
        headers = {"content-type": "image/jpeg"}
        answer = client.post("/v1/media/", content=synthetic_jpeg(28), headers=headers, auth=auth)
        assert answer.status_code == 200, answer.text
        again = client.post("/v1/media/", content=synthetic_jpeg(28), headers=headers, auth=auth)
        assert again.status_code == 429
    finally:
        client.__exit__(None, None, None)


def test_a_video_waits_for_a_decode_slot_or_gets_503(store: Store, clock: SettableClock) -> None:
    from orbweaver.sim.videos import SyntheticVideo, render_video

    video = render_video(SyntheticVideo(seed=64, seconds=1.0, fps=4, width=64, height=48))
    client, auth = started(store, clock, shield_decode_concurrency=1, shield_decode_wait_s=0.1)
    try:
        headers = {"content-type": "video/mp4"}
        decodes = client.app.state.ctx.decodes  # type: ignore[attr-defined]
        assert decodes.acquire(timeout=1)  # another request is decoding
        try:
            busy = client.post("/v1/media/", content=video, headers=headers, auth=auth)
        finally:
            decodes.release()
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
        assert "too many uploads" in busy.json()["detail"]
        done = client.post("/v1/media/", content=video, headers=headers, auth=auth)
        assert done.status_code == 200 and done.json()["classification"] == "no-known-match"
    finally:
        client.__exit__(None, None, None)


def test_a_still_images_detail_says_timestamp_0_by_default() -> None:
    from orbweaver.web.shield import NearMatchDetail

    detail = NearMatchDetail(sha1_base32="", sha256_hex="", classification="csam")
    assert detail.timestamp == 0.0


def test_an_upload_over_the_pixel_budget_costs_one_token_only(
    hotline: Store, clock: SettableClock
) -> None:
    """It is never decoded, so its pixels are not charged: ten refusals within a burst of ten,
    where one decoded 256x256 upload would cost 1 + 65 tokens."""
    from orbweaver.signals import decode_cost

    upload = synthetic_jpeg(29)
    cost = decode_cost(upload)
    assert cost is not None
    client, auth = started(
        hotline,
        clock,
        shield_max_decoded_pixels=cost.decoded_pixels - 1,
        shield_pixels_per_token=1000,
        shield_rate_burst=10,
        shield_rate_per_minute=1,
    )
    try:
        headers = {"content-type": "image/jpeg"}
        codes = {
            client.post("/v1/media/", content=upload, headers=headers, auth=auth).status_code
            for _ in range(10)
        }
        assert codes == {422}
    finally:
        client.__exit__(None, None, None)


def test_an_upload_at_the_pixel_budget_is_charged_its_whole_tokens(
    hotline: Store, clock: SettableClock
) -> None:
    """At the budget exactly, the pixels are charged (one token for every whole
    `shield_pixels_per_token`, the fraction left over free): 1.5 tokens' worth of pixels costs
    1 token, so with the request's own token one upload takes a burst of 2, and a second is
    refused."""
    from orbweaver.signals import decode_cost

    upload = synthetic_jpeg(30)
    cost = decode_cost(upload)
    assert cost is not None
    per_token = cost.decoded_pixels * 2 // 3
    assert cost.decoded_pixels / per_token > 1.5
    client, auth = started(
        hotline,
        clock,
        shield_max_decoded_pixels=cost.decoded_pixels,
        shield_pixels_per_token=per_token,
        shield_rate_burst=2,
        shield_rate_per_minute=1,
    )
    try:
        headers = {"content-type": "image/jpeg"}
        first = client.post("/v1/media/", content=upload, headers=headers, auth=auth)
        assert first.status_code == 200, first.text
        second = client.post("/v1/media/", content=upload, headers=headers, auth=auth)
        assert second.status_code == 429
    finally:
        client.__exit__(None, None, None)


def test_an_image_that_breaks_while_decoding_still_gets_exact_matching(
    store: Store, clock: SettableClock
) -> None:
    """A JPEG cut in half: its header reads, its decoding fails (a `SignalError`, not "not an
    image"). Known by its SHA-256 it is still answered exactly; unknown, it gets 422 saying
    why."""
    from orbweaver.signals import SignalError, decode_cost

    whole = synthetic_jpeg(31)
    cut = whole[: len(whole) // 2]
    assert decode_cost(cut) is not None
    with pytest.raises(SignalError):
        compute_signals(cut)
    create_bank(store, clock, "hotline", threshold=31)
    body = f"sha256,{hashlib.sha256(cut).hexdigest()},csam_prepubescent,test\n"
    import_csv(store, clock, "hotline", io.StringIO("signal_type,signal,category,source\n" + body))
    client, auth = started(store, clock)
    try:
        headers = {"content-type": "image/jpeg"}
        known = client.post("/v1/media/", content=cut, headers=headers, auth=auth)
        assert known.status_code == 200, known.text
        assert known.json()["classification"] == "csam"
        assert known.json()["match_type"] == "exact"
        other = synthetic_jpeg(32)
        unknown = client.post(
            "/v1/media/", content=other[: len(other) // 2], headers=headers, auth=auth
        )
        assert unknown.status_code == 422, unknown.text
        assert "could not decode the image/jpeg upload" in unknown.json()["detail"]
    finally:
        client.__exit__(None, None, None)


def test_url_scannings_501_is_documented_as_a_request_this_deployment_cannot_serve(
    hotline: Store, clock: SettableClock
) -> None:
    """The 501 (URL scanning off) is documented with the 400's error body and description,
    not the credentials' (401) one."""
    client, _ = make_client(hotline, clock, start=False, web_api_docs=True)
    with client:
        documented = client.get("/openapi.json").json()["paths"]["/v1/url/"]["post"]["responses"]
    assert documented["501"] == documented["400"]
    assert "credentials" not in documented["501"]["description"]
