"""Login throttling benchmark (issue 14, item 2): an attacker's password guesses per hour
against one console account, before and after throttling.

    .venv/bin/python -m benchmarks.bench_login [--hours 6] [--every 5]

The console app runs in-process on a throw-away SQLite store with one user. The attacker posts
the login form (fetching a fresh login CSRF token each time, as a browser would) as fast as the
server answers.

- before: throttling off (rates 0, as main had it): every try checks the password (argon2).
  Guesses per hour = 3600 / seconds per try, for ONE connection; an attacker with more
  connections gets more, up to the server's cores.
- after: the default settings, on a simulated clock (the rate limiter's and the app's): one try
  every `--every` simulated seconds for `--hours` simulated hours, once from one address and
  once from a new address per try (a botnet). A guess counts when its password was checked
  (wrong-password answer); throttled tries (429) are not guesses. Reports the worst hour.

No real time passes in "after": the figures are the policy's, measured through the real app.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from orbweaver.clock import SettableClock
from orbweaver.review import ReviewSettings, add_user
from orbweaver.store import open_store
from orbweaver.web.app import create_app
from orbweaver.web.ratelimit import RateLimiter
from orbweaver.web.settings import WebSettings

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "the right password, never guessed"


class SimulatedTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def attempt(client: TestClient, password: str) -> int:
    """200 logged in, 401 wrong password (checked), 429 throttled."""
    page = client.get("/console/login")
    found = TOKEN.search(page.text)
    assert found, page.text
    answer = client.post(
        "/console/login",
        data={"username": "ana", "password": password, "csrf_token": found.group(1)},
    )
    if answer.status_code == 303:
        return 200 if answer.headers["location"] == "/console/queue" else 401
    return answer.status_code


def build(directory: Path, review: ReviewSettings) -> tuple[TestClient, SettableClock, Path]:
    path = directory / f"login-{time.monotonic_ns()}.db"
    store = open_store(f"sqlite:///{path}")
    clock = SettableClock()
    with store.session() as s:
        add_user(s, clock, "ana", "administrator", PASSWORD)
    app = create_app(WebSettings(), store, clock, review=review)
    return TestClient(app, base_url="https://testserver", follow_redirects=False), clock, path


def before(directory: Path, tries: int) -> dict[str, float]:
    off = ReviewSettings(review_login_account_per_hour=0, review_login_address_per_hour=0)
    client, _, _ = build(directory, off)
    attempt(client, "warm-up")
    started = time.perf_counter()
    outcomes = [attempt(client, f"guess {i}") for i in range(tries)]
    seconds = (time.perf_counter() - started) / tries
    assert set(outcomes) == {401}, outcomes
    return {"seconds_per_try": round(seconds, 4), "guesses_per_hour": round(3600 / seconds)}


def after(directory: Path, hours: float, every: float, rotate: bool) -> dict[str, object]:
    client, clock, _ = build(directory, ReviewSettings())
    simulated = SimulatedTime()
    client.app.state.ctx.limiter = RateLimiter(monotonic=simulated)  # type: ignore[attr-defined]
    per_hour: list[int] = [0] * int(hours)
    tries = throttled = 0
    started = time.perf_counter()
    while simulated.now < hours * 3600:
        if rotate:  # a new client address each try (the test client's transport carries it)
            address = f"10.{tries // 65536 % 256}.{tries // 256 % 256}.{tries % 256}"
            client._transport.client = (address, 40000)  # type: ignore[attr-defined]
        outcome = attempt(client, f"guess {tries}")
        tries += 1
        if outcome == 401:
            per_hour[int(simulated.now // 3600)] += 1
        else:
            assert outcome == 429, outcome
            throttled += 1
        simulated.now += every
        clock.advance(timedelta(seconds=every))
    return {
        "tries": tries,
        "throttled": throttled,
        "guesses_per_hour": per_hour,
        "worst_hour": max(per_hour),
        "steady_per_hour": round(sum(per_hour[1:]) / max(1, len(per_hour) - 1), 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--every", type=float, default=5.0, help="simulated seconds between tries")
    parser.add_argument("--tries", type=int, default=20, help="timed tries without throttling")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        result = {
            "load_average": os.getloadavg(),
            "before": before(directory, args.tries),
            "after_one_address": after(directory, args.hours, args.every, rotate=False),
            "after_new_address_each_try": after(directory, args.hours, args.every, rotate=True),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
