"""The web API fuzzed from its own OpenAPI description with schemathesis, against a running
server on loopback (issue 14): no 500s, every status code, content type and body as documented.

Each operation gets `EXAMPLES` generated requests, valid and invalid ones, with an API key that
may use everything (a console administrator's, scopes shield and review), so the handlers run
rather than stop at 401. Set ORBWEAVER_FUZZ_EXAMPLES to try more.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
import uvicorn

from orbweaver.access import create_client
from orbweaver.banks import create_bank, import_csv
from orbweaver.clock import SettableClock
from orbweaver.review import ReviewSettings, add_user
from orbweaver.store import Store
from orbweaver.web.app import create_app
from orbweaver.web.context import FetchedMedia
from orbweaver.web.settings import WebSettings

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("ORBWEAVER_FUZZ_EXAMPLES", "20"))
PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


class Refusing:
    """/v1/url/'s fetcher: the network policy refuses every URL (nothing leaves loopback)."""

    def fetch(self, url: str, *, max_bytes: int) -> FetchedMedia:
        raise ValueError("refused by the network policy (test)")


@pytest.fixture
def served(sqlite_store: Store, clock: SettableClock) -> Iterator[tuple[str, tuple[str, str]]]:
    import io

    create_bank(sqlite_store, clock, "hotline", threshold=31)
    import_csv(
        sqlite_store,
        clock,
        "hotline",
        io.StringIO(f"signal_type,signal,category,source\npdq,{PDQ},csam_postpubescent,test\n"),
    )
    with sqlite_store.session() as s:
        add_user(s, clock, "fuzzer", "administrator", "a long enough password")
    key = create_client(
        sqlite_store,
        clock,
        "fuzzer",
        scopes=("shield", "review"),
        rate_per_minute=1_000_000,
        rate_burst=1_000_000,
    )
    username, secret = key.split(":", 1)
    app = create_app(
        WebSettings(web_api_docs=True, shield_refresh_interval_s=0.05, shield_url_enabled=True),
        sqlite_store,
        clock,
        url_fetcher=Refusing(),
        review=ReviewSettings(),
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    # the index loads in the background: until then /status and /readyz answer 503 (loading),
    # which is right for a server starting, not what the fuzzing is about
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", (username, secret)
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_api_honours_its_own_description(served: tuple[str, tuple[str, str]]) -> None:
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    base, auth = served
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    ran: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            label = case.operation.label
            ran[label] = ran.get(label, 0) + 1
            case.call_and_validate(base_url=base, auth=auth, checks=checks, timeout=30)

        run()
    assert {"POST /v1/pdq/", "POST /v1/media/", "GET /api/review/next"} <= set(ran)
    print(f"\nschemathesis: {sum(ran.values())} cases over {len(ran)} operations, 0 failures")
