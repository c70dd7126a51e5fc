"""The Shield API in process: limits, readiness, live bank changes, retention, keys, OpenAPI.

Images are synthetic (seeded Pillow shapes); PDQ hashes here are random bit strings.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from orbweaver.access import create_client, revoke_client
from orbweaver.banks import create_bank, import_csv, set_enabled
from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.store.models import ApiClient, Base, Event, ShieldLookup
from orbweaver.web.app import create_app
from orbweaver.web.context import FetchedMedia
from orbweaver.web.ratelimit import RateLimiter, SharedRateLimiter, retry_after_header
from orbweaver.web.settings import WebSettings
from orbweaver.web.verdict import PDQFormatError, pdq_to_base64, pdq_to_hex

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


def flip(hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16)
    for i in range(bits):
        value ^= 1 << (i * 256 // bits)
    return f"{value:064x}"


def synthetic_jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (256, 256), (rng.randrange(256), 0, 0))
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x, y = rng.randrange(256), rng.randrange(256)
        draw.rectangle(
            [x, y, x + rng.randrange(8, 120), y + rng.randrange(8, 120)],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def pdq_csv(*rows: tuple[str, str]) -> io.StringIO:
    body = "".join(f"pdq,{h},{c},test\n" for h, c in rows)
    return io.StringIO("signal_type,signal,category,source\n" + body)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_client(
    store: Store, clock: SettableClock, *, start: bool = True, **settings: object
) -> tuple[TestClient, tuple[str, str]]:
    username, secret = create_client(store, clock, f"c{random.random()}").split(":")
    app = create_app(WebSettings(**cast(dict[str, Any], settings)), store, clock)
    client = TestClient(app)
    if start:
        client.__enter__()
    return client, (username, secret)


@pytest.fixture
def bank(store: Store, clock: SettableClock) -> Store:
    create_bank(store, clock, "hotline", threshold=31)
    import_csv(store, clock, "hotline", pdq_csv((PDQ, "csam_postpubescent")))
    return store


@pytest.fixture
def api(bank: Store, clock: SettableClock) -> Iterator[tuple[TestClient, tuple[str, str]]]:
    client, auth = make_client(bank, clock, shield_refresh_interval_s=0.05)
    wait_for(lambda: client.get("/status").status_code == 200)
    yield client, auth
    client.__exit__(None, None, None)


# How long a test waits for the app to become ready (or a bank change to show). Generous: a
# passing test returns as soon as the condition holds, and under coverage (`scripts/mutate.py`)
# on a loaded machine the first refresh and the kernels' warm-up took more than 10 s.
# ORBWEAVER_TEST_WAIT_S sets it.
WAIT_S = float(os.environ.get("ORBWEAVER_TEST_WAIT_S", "60"))


def wait_for(condition: object, timeout: float | None = None) -> None:
    deadline = time.monotonic() + (WAIT_S if timeout is None else timeout)
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def pdq_answer(client: TestClient, auth: tuple[str, str], pdq_hex: str) -> dict[str, object]:
    sent = pdq_to_base64(pdq_hex)
    response = client.post("/v1/pdq/", json={"hashes": [sent]}, auth=auth)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()["scanned_hashes"][sent]
    return answer


REDIS = "redis://127.0.0.1:6379/0"


# --- rate limiting ----------------------------------------------------------------------------


def test_token_bucket_refills_at_its_rate() -> None:
    now = FakeTime()
    limiter = RateLimiter(monotonic=now)
    assert all(limiter.take("a", 1, rate_per_minute=60, burst=3) is None for _ in range(3))
    wait = limiter.take("a", 1, rate_per_minute=60, burst=3)
    assert wait == pytest.approx(1.0)
    assert limiter.take("b", 1, rate_per_minute=60, burst=3) is None  # buckets are per client
    now.now += 1.0
    assert limiter.take("a", 1, rate_per_minute=60, burst=3) is None
    # A batch costing more than the burst is slowed to the burst, never locked out forever.
    now.now += 10
    assert limiter.take("a", 50, rate_per_minute=60, burst=3) is None
    assert retry_after_header(0.2) == "1" and retry_after_header(2.1) == "3"


@pytest.mark.redis
def test_workers_share_one_bucket_per_client_through_redis() -> None:
    """Two workers (or machines) with their own limiter objects spend the same client's
    tokens: together they allow the burst once, not once each."""
    import uuid

    prefix = f"orbweaver-test:{uuid.uuid4().hex}"
    first, second = (SharedRateLimiter(REDIS, prefix=prefix) for _ in range(2))
    limits = {"rate_per_minute": 6, "burst": 4}
    allowed = [limiter.take("client-7", 1, **limits) is None for limiter in [first, second] * 4]
    assert allowed == [True] * 4 + [False] * 4
    wait = second.take("client-7", 1, **limits)
    assert wait is not None and 9 < wait <= 10  # 6 a minute: one token every 10 s
    assert first.take("client-8", 1, **limits) is None  # buckets are per client


@pytest.mark.redis
def test_two_apps_on_one_redis_share_a_clients_limit(bank: Store, clock: SettableClock) -> None:
    """What `orbweaver serve --workers 2` (or two machines) does with ORBWEAVER_REDIS_URL: the
    app's limiter is the shared one, under the deployment's key prefix."""
    import uuid

    import redis

    prefix = f"orbweaver-test:{uuid.uuid4().hex}"
    limits = {"shield_rate_per_minute": 1, "shield_rate_burst": 2}
    first, auth = make_client(
        bank, clock, start=False, redis_url=REDIS, shield_rate_redis_prefix=prefix, **limits
    )
    second = TestClient(
        create_app(
            WebSettings(redis_url=REDIS, shield_rate_redis_prefix=prefix, **limits), bank, clock
        )
    )
    with first, second:
        for client in (first, second):
            wait_for(lambda c=client: c.get("/status").status_code == 200)
        body = {"hashes": [pdq_to_base64(PDQ)]}
        codes = [c.post("/v1/pdq/", json=body, auth=auth).status_code for c in (first, second)]
        codes += [c.post("/v1/pdq/", json=body, auth=auth).status_code for c in (first, second)]
    assert codes == [200, 200, 429, 429]
    shared = redis.Redis.from_url(REDIS)
    keys = list(shared.scan_iter(f"{prefix}:*"))
    assert len(keys) == 1
    shared.delete(*keys)


def test_shared_limiter_falls_back_to_its_own_buckets_when_redis_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens here once the socket closes
    now = FakeTime()
    limiter = SharedRateLimiter(f"redis://127.0.0.1:{port}/0", monotonic=now)
    limits = {"rate_per_minute": 60, "burst": 2}
    assert [limiter.take("a", 1, **limits) for _ in range(2)] == [None, None]
    assert limiter.take("a", 1, **limits) == pytest.approx(1.0)  # still limited, locally
    assert "shared rate limit unavailable" in caplog.text
    assert caplog.text.count("shared rate limit unavailable") == 1  # not once per request


def test_rate_limit_answers_429_with_retry_after(bank: Store, clock: SettableClock) -> None:
    client, auth = make_client(bank, clock, shield_rate_per_minute=1, shield_rate_burst=2)
    with client:
        wait_for(lambda: client.get("/status").status_code == 200)
        hashes = [pdq_to_base64(PDQ)]
        assert client.post("/v1/pdq/", json={"hashes": hashes}, auth=auth).status_code == 200
        assert client.post("/v1/pdq/", json={"hashes": hashes}, auth=auth).status_code == 200
        refused = client.post("/v1/pdq/", json={"hashes": hashes}, auth=auth)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "rate limit" in refused.json()["detail"]


def test_per_client_limit_overrides_the_default(bank: Store, clock: SettableClock) -> None:
    slow = create_client(bank, clock, "slow", rate_per_minute=1, rate_burst=1).split(":")
    client, _ = make_client(bank, clock)
    with client:
        wait_for(lambda: client.get("/status").status_code == 200)
        body = {"hashes": [pdq_to_base64(PDQ)]}
        assert client.post("/v1/pdq/", json=body, auth=tuple(slow)).status_code == 200
        assert client.post("/v1/pdq/", json=body, auth=tuple(slow)).status_code == 429


# --- readiness and live bank changes ----------------------------------------------------------


def test_readiness_loading_ready_stale(bank: Store, clock: SettableClock) -> None:
    client, auth = make_client(bank, clock, start=False, shield_stale_after_s=30)
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    assert client.get("/status/live").status_code == 200
    loading = client.get("/status")
    assert loading.status_code == 503 and loading.json()["status"] == "loading"
    scan = client.post("/v1/pdq/", json={"hashes": [pdq_to_base64(PDQ)]}, auth=auth)
    assert scan.status_code == 503  # never "no-known-match" from an index not loaded yet
    ctx.matcher.refresh_now()
    assert client.get("/status").json()["status"] == "ready"
    clock.advance(timedelta(seconds=31))  # no successful refresh for longer than allowed
    stale = client.get("/status")
    assert stale.status_code == 503 and stale.json()["status"] == "stale"
    assert client.get("/status/live").status_code == 200
    ctx.matcher.refresh_now()
    assert client.get("/status").status_code == 200


def test_bank_changes_reach_a_running_server(
    api: tuple[TestClient, tuple[str, str]], bank: Store, clock: SettableClock
) -> None:
    client, auth = api
    new = flip(PDQ, 128)
    assert pdq_answer(client, auth, new)["classification"] == "no-known-match"
    import_csv(bank, clock, "hotline", pdq_csv((new, "harmful_abusive")))
    wait_for(lambda: pdq_answer(client, auth, new)["classification"] != "no-known-match")
    assert pdq_answer(client, auth, new)["classification"] == "harmful-abusive-material"
    set_enabled(bank, clock, "hotline", False)
    wait_for(lambda: pdq_answer(client, auth, PDQ)["classification"] == "no-known-match")


def test_ready_only_after_the_search_kernels_are_warm(
    bank: Store, clock: SettableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Numba compiles the index's kernels on first use (seconds): a worker warms them while it
    still answers 503, once, rather than stalling its first requests."""
    from orbweaver.banks.matcher import Matcher
    from orbweaver.web import serving

    warmed: list[bool] = []
    real = serving.warm_up

    def spy(matcher: Matcher) -> float:
        ready = client.get("/status").status_code == 200
        warmed.append(ready)
        return real(matcher)

    monkeypatch.setattr(serving, "warm_up", spy)
    client, _ = make_client(bank, clock, start=False)
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.matcher.refresh_now()
    ctx.matcher.refresh_now()
    assert warmed == [False]  # once, and while /status still said "loading"
    assert client.get("/status").status_code == 200


def test_cached_keys_are_checked_without_the_store(bank: Store, clock: SettableClock) -> None:
    from orbweaver.access import KeyRegistry

    now = FakeTime()
    keys = KeyRegistry(bank, clock, ttl_s=5.0, monotonic=now)
    username, secret = create_client(bank, clock, "cache").split(":")
    assert keys.needs_store(username)  # never seen
    assert keys.verify(username, secret) is not None
    assert not keys.needs_store(username)  # cached, last use just recorded
    assert keys.verify(username, "wrong") is None
    now.now += 6.0
    assert keys.needs_store(username)  # expired: revocation shows within the TTL
    revoke_client(bank, clock, username)
    assert keys.verify(username, secret) is None


def test_server_timing_header(api: tuple[TestClient, tuple[str, str]]) -> None:
    client, auth = api
    response = client.post("/v1/pdq/", json={"hashes": [pdq_to_base64(PDQ)]}, auth=auth)
    timing = response.headers["server-timing"]
    assert timing.startswith("app;dur=") and float(timing.removeprefix("app;dur=")) >= 0


def test_large_pdq_batches_match_like_single_hashes(
    api: tuple[TestClient, tuple[str, str]],
) -> None:
    """Small batches are matched on the event loop, large ones in the threadpool: same answers."""
    client, auth = api
    hashes = [flip(PDQ, b) for b in range(0, 60, 2)]  # 30 hashes, over the inline limit
    sent = [pdq_to_base64(h) for h in hashes]
    batch = client.post("/v1/pdq/", json={"hashes": sent}, auth=auth).json()["scanned_hashes"]
    assert [batch[s] for s in sent] == [pdq_answer(client, auth, h) for h in hashes]
    assert batch[sent[0]]["match_type"] == "near" and batch[sent[-1]]["match_type"] is None


# --- answers ----------------------------------------------------------------------------------


def test_pdq_answers_within_the_threshold_only(api: tuple[TestClient, tuple[str, str]]) -> None:
    client, auth = api
    near = pdq_answer(client, auth, flip(PDQ, 20))
    assert near["classification"] == "csam" and near["match_type"] == "near"
    far = pdq_answer(client, auth, flip(PDQ, 40))
    assert far == {
        "classification": "no-known-match",
        "match_type": None,
        "near_match_details": None,
    }


def test_pdq_input_errors(api: tuple[TestClient, tuple[str, str]]) -> None:
    client, auth = api
    bad = client.post("/v1/pdq/", json={"hashes": ["not base64!"]}, auth=auth)
    assert bad.status_code == 400 and "hashes[0]" in bad.json()["detail"]
    many = client.post("/v1/pdq/", json={"hashes": ["x"] * 1001}, auth=auth)
    assert many.status_code == 413
    shapeless = client.post("/v1/pdq/", json={"hash": []}, auth=auth)
    assert shapeless.status_code == 422 and isinstance(shapeless.json()["detail"], str)


def test_pdq_encodings() -> None:
    raw = bytes.fromhex(PDQ)
    assert pdq_to_hex(base64.b64encode(raw).decode()) == PDQ
    assert pdq_to_hex(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == PDQ
    assert pdq_to_hex(PDQ.upper()) == PDQ
    with pytest.raises(PDQFormatError):
        pdq_to_hex(base64.b64encode(raw[:16]).decode())


def test_auth_and_scopes(bank: Store, clock: SettableClock) -> None:
    client, auth = make_client(bank, clock, shield_auth_cache_s=0)
    review_only = create_client(bank, clock, "console", scopes=("review",)).split(":")
    with client:
        body = {"hashes": [pdq_to_base64(PDQ)]}
        anonymous = client.post("/v1/pdq/", json=body)
        assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"]
        assert client.post("/v1/pdq/", json=body, auth=tuple(review_only)).status_code == 403
        wait_for(lambda: client.get("/status").status_code == 200)
        assert client.post("/v1/pdq/", json=body, auth=auth).status_code == 200
        with bank.session() as session:
            used = session.scalar(
                sa.select(ApiClient.last_used_at).where(ApiClient.username == auth[0])
            )
        assert used is not None
        revoke_client(bank, clock, auth[0])
        assert client.post("/v1/pdq/", json=body, auth=auth).status_code == 401
    with bank.session() as session:
        secrets = session.scalars(sa.select(ApiClient.secret_sha256)).all()
    assert auth[1] not in secrets  # stored hashed


def test_url_endpoint_uses_the_fetcher_hook(bank: Store, clock: SettableClock) -> None:
    class Fetcher:
        def fetch(self, url: str, *, max_bytes: int) -> FetchedMedia:
            assert max_bytes > 0
            return FetchedMedia(synthetic_jpeg(5), "image/jpeg")

    username, secret = create_client(bank, clock, "u").split(":")
    app = create_app(WebSettings(shield_url_enabled=True), bank, clock, url_fetcher=Fetcher())
    with TestClient(app) as client:
        wait_for(lambda: client.get("/status").status_code == 200)
        answer = client.post(
            "/v1/url/", json={"url": "http://example.test/a.jpg"}, auth=(username, secret)
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["classification"] == "no-known-match"


def test_openapi_document(bank: Store, clock: SettableClock) -> None:
    client, _ = make_client(bank, clock, start=False, web_api_docs=True)
    with client:
        doc = client.get("/openapi.json").json()
    assert {"/v1/media/", "/v1/pdq/", "/v1/url/", "/status", "/status/live"} <= set(doc["paths"])
    assert "HTTPBasic" in doc["components"]["securitySchemes"]
    assert "image/*" in doc["paths"]["/v1/media/"]["post"]["requestBody"]["content"]


# --- what is stored ---------------------------------------------------------------------------


def row_counts(store: Store) -> dict[str, int]:
    with store.session() as session:
        return {
            t.name: session.scalar(sa.select(sa.func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def scan_everything(client: TestClient, auth: tuple[str, str], upload: bytes) -> None:
    media = client.post(
        "/v1/media/", content=upload, headers={"content-type": "image/jpeg"}, auth=auth
    )
    assert media.status_code == 200, media.text
    pdq = client.post("/v1/pdq/", json={"hashes": [pdq_to_base64(PDQ)]}, auth=auth)
    assert pdq.status_code == 200


def test_nothing_is_stored_by_default(
    api: tuple[TestClient, tuple[str, str]], bank: Store, tmp_path: Path
) -> None:
    client, auth = api
    upload = synthetic_jpeg(11)
    before = row_counts(bank)
    scan_everything(client, auth, upload)
    assert row_counts(bank) == before  # no media, no event, no lookup row: only last_used_at
    if bank.dialect == "sqlite":
        bank.dispose()
        database = Path(bank.engine.url.database or "")
        on_disk = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert upload[200:264] not in on_disk
        assert hashlib.sha256(upload).hexdigest().encode() not in on_disk


def test_retention_keeps_hashes_and_verdict_only(bank: Store, clock: SettableClock) -> None:
    client, auth = make_client(bank, clock, shield_retention=True)
    upload = synthetic_jpeg(12)
    with client:
        wait_for(lambda: client.get("/status").status_code == 200)
        events_before = row_counts(bank)["event"]
        scan_everything(client, auth, upload)
    with bank.session() as session:
        rows = session.scalars(sa.select(ShieldLookup).order_by(ShieldLookup.id)).all()
        events = session.scalar(sa.select(sa.func.count()).select_from(Event))
    assert [(r.endpoint, r.classification, r.match_type) for r in rows] == [
        ("media", "no-known-match", None),
        ("pdq", "csam", "near"),
    ]
    assert rows[0].sha256 == hashlib.sha256(upload).hexdigest() and rows[0].entry_ids == []
    assert rows[1].pdq == PDQ and len(rows[1].entry_ids) == 1
    assert events == events_before
