"""The world's simulated analysts, classifying suspects through the product's review JSON API.

Each analyst is a console user with a review-scoped API key. It asks the product for its next
item (`GET /api/review/next`), asks the simulated world what that picture is (`GET
{control}/label/{sha256}`: the world attaches "known", "actionable" or "benign" to the benign
pictures it serves, and a category) and posts its assessment. Two analysts reach consensus; the
product then banks the verdict and turns past sightings into detections, which notices pick up.
No image is ever opened: the label comes from the world, never from looking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from orbweaver.categories import ACTIONABLE, NOT_ACTIONABLE
from orbweaver.clock import Clock


@dataclass
class AnalystStats:
    assessed: int = 0
    verdicts: int = 0
    by_category: dict[str, int] = field(default_factory=dict)


class SimulatedAnalyst:
    """One analyst: a console user name and its API key (`USERNAME:SECRET`)."""

    def __init__(self, name: str, api_key: str, review_url: str, control_url: str) -> None:
        user, secret = api_key.split(":", 1)
        self.name = name
        self.api = httpx.Client(base_url=review_url, auth=(user, secret), timeout=30.0)
        self.control = httpx.Client(base_url=control_url.rstrip("/") + "/", timeout=10.0)
        self.stats = AnalystStats()

    def close(self) -> None:
        self.api.close()
        self.control.close()

    def category_of(self, sha256: str) -> str:
        """What the world says the picture is; pictures the world never served are benign."""
        response = self.control.get(f"label/{sha256}")
        if response.status_code == 404:
            return NOT_ACTIONABLE
        response.raise_for_status()
        data = response.json()
        category = data.get("category")
        if data.get("label") in ("known", "actionable") and category in ACTIONABLE:
            return str(category)
        return NOT_ACTIONABLE

    def work(self, limit: int = 10_000) -> int:
        """Assess items until the queue has nothing more for this analyst; returns how many."""
        done = 0
        while done < limit:
            response = self.api.get("/api/review/next")
            response.raise_for_status()
            item = response.json()["item"]
            if item is None:
                break
            category = self.category_of(item["sha256"])
            posted = self.api.post(
                f"/api/review/items/{item['id']}/assessments", json={"category": category}
            )
            posted.raise_for_status()
            outcome = posted.json()
            done += 1
            self.stats.assessed += 1
            self.stats.by_category[category] = self.stats.by_category.get(category, 0) + 1
            self.stats.verdicts += outcome.get("verdict") is not None
        return done


def review_round(analysts: list[SimulatedAnalyst]) -> int:
    """Every analyst works through what is waiting for it (the second confirms the first)."""
    total = 0
    while True:
        done = sum(a.work() for a in analysts)
        total += done
        if done == 0:
            return total


class CappedReview:
    """Analysts with a fixed capacity: each makes at most `per_day` assessments per simulated
    day, spent as the clock moves (called at every step of the demo, not only after a crawl).
    Capacity left unused while the queue is empty is not banked. Once a simulated day the open
    items are re-ranked (`refresh`: the review-sync role's `refresh_priorities`), as time
    passing changes what is still online."""

    def __init__(
        self,
        analysts: list[SimulatedAnalyst],
        per_day: float,
        clock: Clock,
        refresh: Callable[[], object] | None = None,
    ) -> None:
        self.analysts = analysts
        self.per_day = per_day
        self.clock = clock
        self.refresh = refresh
        self.budget = [0.0] * len(analysts)
        self.last: datetime | None = None
        self.refreshed: datetime | None = None

    def __call__(self, analysts: list[SimulatedAnalyst]) -> int:
        now = self.clock.now()
        if self.refresh is not None and (
            self.refreshed is None or now - self.refreshed >= timedelta(days=1)
        ):
            self.refresh()
            self.refreshed = now
        elapsed = 0.0 if self.last is None else (now - self.last) / timedelta(days=1)
        self.last = now
        total = 0
        for i, analyst in enumerate(self.analysts):
            self.budget[i] += self.per_day * max(elapsed, 0.0)
            want = int(self.budget[i])
            done = analyst.work(limit=want) if want > 0 else 0
            self.budget[i] -= done
            if done < want:  # nothing left for this analyst: idle time is not saved up
                self.budget[i] -= int(self.budget[i])
            total += done
        return total
