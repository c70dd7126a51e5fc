"""How providers react to notices, and the ledger of what they received.

Draws use one low-discrepancy stream per (party, decision): u_k = frac(offset + k·φ⁻¹), a Weyl
sequence with a seeded offset. Its values are spread evenly over (0, 1), so even a small world
reproduces its scenario's medians, p90s and rates closely, where independent random draws would
need tens of thousands of notices per provider to land within 10%.

Removal delay: lognormal with mu = ln(median) and sigma = (ln p90 − ln median) / z(0.9); a median
of 0 is taken as one hour, and p90 <= median gives a point mass at the median.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist
from urllib.parse import urlsplit

from orbweaver.sim.catalogue import Builder, Catalogue, Item, Party
from orbweaver.sim.clock import WorldClock
from orbweaver.sim.media import Variant, draw_variant

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
Z90 = NormalDist().inv_cdf(0.9)
MIN_DAYS = 1.0 / 24.0
MAX_DAYS = 36500.0  # heavy tails are cut at a century: beyond any horizon, within datetime
# X-ARF tags allow one colon (`namespace:predicate`), so the product writes `orbweaver:round-N`;
# the older `orbweaver:round:N` spelling is still read.
ROUND_TAGS = ("orbweaver:round-", "orbweaver:round:")
ESCALATION_TAG = "orbweaver:escalation"


class Stream:
    """A Weyl sequence in (0, 1): evenly spread draws, deterministic per seed."""

    def __init__(self, offset: float) -> None:
        self.value = offset % 1.0

    def next(self) -> float:
        self.value = (self.value + GOLDEN) % 1.0
        return min(max(self.value, 1e-9), 1.0 - 1e-9)


def lognormal_days(median: float, p90: float, u: float) -> float:
    """The u-quantile of the lognormal fit to (median, p90), in days."""
    median = max(median, MIN_DAYS)
    p90 = max(p90, median)
    sigma = (math.log(p90) - math.log(median)) / Z90
    return min(MAX_DAYS, math.exp(math.log(median) + sigma * NormalDist().inv_cdf(u)))


@dataclass
class Notice:
    """One notice as the world received it (one X-ARF report, one URL)."""

    received_at: datetime
    recipient: str  # party name
    channel: str  # smtp | webhook | direct
    url: str
    report_id: str = ""
    type: str = ""
    tags: tuple[str, ...] = ()
    round: int = 1
    escalation: bool = False
    outcome: str = ""


@dataclass
class Episode:
    """All notices from one recipient about one URL: removal time runs from the first of them."""

    party: str
    url: str
    item_id: int
    image_ids: tuple[int, ...]
    first_notice_at: datetime
    repeat: bool  # an image of this URL had been noticed to the same party before
    rounds: int = 1


@dataclass
class Ledger:
    """The world's ground truth of notices; placements and removals live on the items."""

    notices: list[Notice] = field(default_factory=list)
    episodes: dict[tuple[str, str], Episode] = field(default_factory=dict)
    noticed_images: dict[str, set[int]] = field(default_factory=dict)
    forwards: list[tuple[datetime, str, str, str]] = field(default_factory=list)


@functools.lru_cache(maxsize=4096)
def parse_round(tags: tuple[str, ...]) -> tuple[int, bool]:
    """(round, escalation) from a report's tags: `orbweaver:round-N` (or `orbweaver:round:N`),
    and `orbweaver:escalation` (also `orbweaver:escalation-N`, the escalation level)."""
    rnd = 1
    escalation = False
    for tag in tags:
        for prefix in ROUND_TAGS:
            if tag.startswith(prefix):
                with contextlib.suppress(ValueError):
                    rnd = max(rnd, int(tag[len(prefix) :]))
        if tag == ESCALATION_TAG or tag.startswith(ESCALATION_TAG + "-"):
            escalation = True
    return rnd, escalation


class Engine:
    """Applies notices at world time; the only writer of removals and re-uploads."""

    def __init__(self, cat: Catalogue, builder: Builder, clock: WorldClock, seed: int) -> None:
        self.cat = cat
        self.builder = builder
        self.clock = clock
        self.ledger = Ledger()
        self.lock = threading.RLock()
        self.rng = random.Random(seed * 7919 + 17)
        self._streams: dict[tuple[str, str], Stream] = {}
        self._seed = seed
        self._by_url: dict[str, Item] = {}  # a URL names one placement for ever
        self.own_removal_factor = cat.scenario.world.own_removal_factor
        if self.own_removal_factor > 0:
            for item in cat.items:
                self.set_gone(item)

    def set_gone(self, item: Item) -> None:
        """When the placement goes offline on its own: its provider's removal delay (from
        upload) times `own_removal_factor`, drawn from the provider's own stream."""
        party = item.site.frontline
        if party is None or self.own_removal_factor <= 0:
            return
        b = party.behaviour
        f = self.own_removal_factor
        days = lognormal_days(
            b.removal_median_days * f, b.removal_p90_days * f, self.u(party, "own")
        )
        item.gone_at = item.uploaded_at + timedelta(days=days)

    def stream(self, party: Party, purpose: str) -> Stream:
        key = (party.name, purpose)
        if key not in self._streams:
            self._streams[key] = Stream(random.Random(f"{self._seed}:{key}").random())
        return self._streams[key]

    def u(self, party: Party, purpose: str) -> float:
        return self.stream(party, purpose).next()

    # -- receiving -------------------------------------------------------------------------

    def receive(
        self,
        recipient: Party,
        url: str,
        channel: str = "direct",
        report_id: str = "",
        type_: str = "",
        tags: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> Notice:
        """Log one notice and let the recipient react to it."""
        rnd, escalation = parse_round(tags)
        with self.lock:
            now = when or self.clock.now()
            notice = Notice(
                now, recipient.name, channel, url, report_id, type_, tags, rnd, escalation
            )
            self.ledger.notices.append(notice)
            notice.outcome = self._react(notice, recipient)
            return notice

    def item_at(self, url: str) -> Item | None:
        item = self._by_url.get(url)
        if item is None:
            parts = urlsplit(url)
            item = self.cat.item_at(parts.hostname or "", parts.path or "/")
            if item is not None:
                self._by_url[url] = item
        return item

    def _react(self, notice: Notice, party: Party) -> str:
        item = self.item_at(notice.url)
        if item is None:
            return "ignored:not-hosted-here"
        site = item.site
        if party is site.registrar or (site.host is not None and party is site.host.registrar):
            return self._escalate(notice, item)
        if party is not site.cdn and party is not site.host:
            return "ignored:not-hosted-here"
        role = "cdn" if party is site.cdn else "host"
        if role == "cdn":
            host = site.host.name if site.host else "?"
            self.ledger.forwards.append((notice.received_at, party.name, host, notice.url))
        acting = party
        if role == "cdn" and self.cat.scenario.world.cdn_forward == "origin" and site.host:
            acting = site.host
        episode = self.ledger.episodes.get((party.name, notice.url))
        if episode is None:
            self._open_episode(notice, party, item)
        else:
            episode.rounds += 1
        if notice.escalation:
            return self._escalate(notice, item)
        if episode is None:
            return self._first_notice(notice, acting, item, role)
        return self._follow_up(notice, acting, item)

    def controller(self, item: Item) -> Party | None:
        """Whose behaviour decides about this item: the party noticed first (the CDN or the
        host), or the origin host behind a CDN when the scenario's `cdn_forward` is "origin"."""
        site = item.site
        if site.cdn is not None and self.cat.scenario.world.cdn_forward == "origin" and site.host:
            return site.host
        return site.frontline

    def _open_episode(self, notice: Notice, party: Party, item: Item) -> None:
        seen = self.ledger.noticed_images.setdefault(party.name, set())
        repeat = any(i in seen for i in item.image_ids)
        seen.update(item.image_ids)
        self.ledger.episodes[(party.name, notice.url)] = Episode(
            party.name, notice.url, item.id, item.image_ids, notice.received_at, repeat
        )

    def _first_notice(self, notice: Notice, party: Party, item: Item, role: str) -> str:
        """The scenario's own draw: the removal delay under daily reminders (the baseline)."""
        now = notice.received_at
        if not item.online(now):
            return "already-offline" if item.uploaded_at <= now else "ignored:not-yet-online"
        if item.removed_at is not None or item.due_at is not None:
            return f"{role}:removal-already-scheduled"
        if item.never:
            return f"{role}:will-not-act"
        b = party.behaviour
        if self.u(party, "never") < b.never_remove:
            item.never = True
            return f"{role}:will-not-act"
        days = lognormal_days(b.removal_median_days, b.removal_p90_days, self.u(party, "delay"))
        due = now + timedelta(days=days)
        if days > b.reminder_window_days and self.u(party, "reminders") < b.reminder_dependence:
            item.due_at = due
            return f"{role}:awaiting-reminders"
        self.schedule_removal(item, due, party)
        return f"{role}:removal-scheduled"

    def _follow_up(self, notice: Notice, party: Party, item: Item) -> str:
        """A reminder changes nothing the baseline already counts; it only matters to a removal
        that waits for one (`reminder_dependence`)."""
        now = notice.received_at
        if not item.online(now):
            return "already-offline"
        if item.due_at is None:
            if item.removed_at is None and not item.never:  # its first notice found nothing yet
                return self._first_notice(notice, party, item, "host")
            return "follow-up:no-change"
        if now > item.due_at:  # reminded only after the due time: acts on this reminder
            self.schedule_removal(item, now, party)
            return "follow-up:acted-on-late-reminder"
        if now >= item.due_at - timedelta(days=party.behaviour.reminder_window_days):
            self.schedule_removal(item, item.due_at, party)
            return "follow-up:removal-scheduled"
        return "follow-up:noted"

    def _escalate(self, notice: Notice, item: Item) -> str:
        """An upstream (a registrar, or a notice tagged escalation) presses the controller: with
        the controller's `escalation_effect`, removal within `escalation_delay_days` (median)."""
        now = notice.received_at
        if not item.online(now):
            return "already-offline"
        controller = self.controller(item)
        if controller is None:
            return "escalation:no-change"
        b = controller.behaviour
        if self.u(controller, "escalation") >= b.escalation_effect:
            return "escalation:no-change"
        days = lognormal_days(
            b.escalation_delay_days, b.escalation_delay_days * 3, self.u(controller, "edelay")
        )
        self.schedule_removal(item, now + timedelta(days=days), controller)
        return "escalation:removal-scheduled"

    # -- removal and re-upload -------------------------------------------------------------

    def schedule_removal(self, item: Item, when: datetime, party: Party) -> None:
        """Set (or bring forward) the removal; the first one decides whether it comes back."""
        if item.removed_at is not None and item.removed_at <= when:
            return
        first = item.removed_at is None
        self.cat.version += 1
        item.removed_at = when
        item.removed_by = party.name
        item.never = False
        if item.due_at is not None and when <= item.due_at:
            item.due_at = None
        if first:
            self._maybe_reupload(item, party)
        elif item.child is not None and item.reupload_gap is not None:
            self._move_child(item.child, when + item.reupload_gap)

    def _move_child(self, child: Item, when: datetime) -> None:
        site = child.site
        self.cat.version += 1
        site.items.remove(child)
        child.uploaded_at = when
        site.add(child)

    def _maybe_reupload(self, item: Item, party: Party) -> None:
        frontline = item.site.frontline
        if (
            frontline is None
            or self.u(frontline, "reupload") >= frontline.behaviour.recidivism_rate
        ):
            return
        b = frontline.behaviour
        if self.u(frontline, "move") < b.move_share:
            gap = timedelta(0)
        else:
            gap = timedelta(days=-b.reupload_delay_days * math.log(1.0 - self.u(frontline, "gap")))
        assert item.removed_at is not None
        item.reupload_gap = gap
        item.child = self._reupload(item, item.removed_at + gap)

    def _reupload(self, item: Item, when: datetime) -> Item:
        frontline = item.site.frontline
        assert frontline is not None
        sites = [
            s for s in frontline.sites if s.frontline is frontline and s.kind == item.site.kind
        ]
        site = self.rng.choice(sites or [item.site])
        images = [self.cat.images[i] for i in item.image_ids]
        if item.kind == "archive":
            variants = [m.variant for m in item.members]
            child = self.builder.place_archive(site, images, variants, when, self.rng)
        else:
            child = self.builder.place_image(site, images[0], self._variant(frontline, item), when)
        child.parent = item
        self.set_gone(child)
        return child

    def _variant(self, party: Party, item: Item) -> Variant:
        b = party.behaviour
        weights = (b.variant_same, b.variant_reencode, b.variant_resize, b.variant_mirror)
        u = self.u(party, "variant") * sum(weights)
        kind = "mirror"
        for name, w in zip(("same", "reencode", "resize", "mirror"), weights, strict=True):
            if u < w:
                kind = name
                break
            u -= w
        if kind == "same":
            return item.variant
        picture = self.cat.images[item.image_ids[0]].picture
        return draw_variant(self.rng, kind, picture)
