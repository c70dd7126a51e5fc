"""The backlog (issue 18, part 2): what the review queue's order buys when analysts cannot keep up.

    .venv/bin/python -m benchmarks.bench_backlog [--scenario scenarios/table-1.0.toml]
        [--scale 0.01] [--days 180] [--seeds 1,2,3] [--load 0.25] [--analysts 2]
        [--own-removal 1.0] [--auc 0.9] [--json OUT.json] [--png docs/backlog-orders.png]

One world per seed (`orbweaver.sim`, no servers), its placements going offline on their own
(`own_removal_factor`: each after its provider's removal delay from upload, noticed or not), and
the review queue's orders run side by side on it, same world, same seeds:

- a crawl every simulated day sees what is online: a suspect (an unknown picture, "actionable" or
  benign, on a provider's site; every site there has detections) joins the queue when first seen;
  its sightings' times are the product's `first_seen_at` / `last_seen_at`;
- analysts with a fixed capacity (`--load`: the day's assessments are that share of the suspect
  arrival rate, all analysts together), each asking for the highest-ranked open item it has not
  assessed (the product's `next` rule), two agreeing assessments per verdict (the product's default
  consensus); labels are the world's truth; one image shown per assessment;
- every open item ranked once a day (the review-sync role's `refresh_priorities`) by the product's
  own `orbweaver.review.order_key` on the `PriorityInputs` the queue computes: `fifo`,
  `priority`, `expected`, and the last two again with the world's oracle classifier of AUC `--auc`
  (`orbweaver.sim.oracle`, the product's classifier plug-in point). The host's observed removal
  times (`expected`) are the removal times the monitor measures from the world's notices: its
  provider's median and p90, which the world reproduces under daily notices (`orbweaver sim
  calibrate`).

What is counted (from the world's truth, which the product never sees): actionable suspects
noticed (an actionable verdict) while still online, those gone before any verdict, the median
hours from first seen to notice, images shown per actionable verdict, and the backlog per day.
The store and the web API are left out to run 180 days in seconds; `tests/review` checks that
the store's `next` query serves items in `order_key`'s order, and `orbweaver demo --queue ...`
runs the whole product (crawl, store, web API) on one order.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from orbweaver.review import PriorityInputs, order_key
from orbweaver.sim import practice
from orbweaver.sim import scenario as scenario_mod
from orbweaver.sim.catalogue import Item
from orbweaver.sim.oracle import auc_of, oracle_score

REPO = Path(__file__).resolve().parents[1]
CONSENSUS = 2
NEAR = 90  # ReviewSettings.review_near_distance; no PDQ distances here


@dataclass
class Suspect:
    """One queue item: a picture (its media), with every placement of it the crawl saw."""

    image_id: int
    actionable: bool
    placements: list[Item]
    host: str
    first_seen: datetime
    last_seen: datetime
    score: float | None = None
    assessed_by: set[int] = field(default_factory=set)
    verdict_at: datetime | None = None

    def online(self, when: datetime) -> bool:
        return any(p.online(when) for p in self.placements)

    def gone_by(self, when: datetime) -> bool:
        return not any(p.ended_at is None or p.ended_at > when for p in self.placements)


@dataclass
class Result:
    order: str
    suspects: int = 0
    assessed: int = 0
    assessments: int = 0
    actionable_suspects: int = 0
    actionable: int = 0
    noticed_while_online: int = 0
    removed_before_review: int = 0
    hours_to_notice: list[float] = field(default_factory=list)
    backlog: list[int] = field(default_factory=list)
    backlog_online: list[int] = field(default_factory=list)  # of those, still online (truth)
    turn: int = 0  # whose turn it is among the analysts (carried from day to day)
    budget: float = 0.0  # assessments due and not yet made (capacity is a rate, not whole days)
    # earlier verdicts (actionable, all) per host and overall, as the queue reads them
    host_verdicts: dict[str, tuple[int, int]] = field(default_factory=dict)
    all_verdicts: tuple[int, int] = (0, 0)

    def row(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "suspects": self.suspects,
            "actionable_suspects": self.actionable_suspects,
            "assessed": self.assessed,
            "assessments": self.assessments,
            "actionable": self.actionable,
            "noticed_while_online": self.noticed_while_online,
            "removed_before_review": self.removed_before_review,
            "median_hours_suspect_to_notice": (
                round(statistics.median(self.hours_to_notice), 1) if self.hours_to_notice else None
            ),
            "images_shown_per_actionable_verdict": (
                round(self.assessments / self.actionable, 2) if self.actionable else None
            ),
            "backlog": self.backlog,
            "backlog_online": self.backlog_online,
        }


def build(
    sc: scenario_mod.Scenario, scale: float, seed: int, own: float, spread: float = 1.0
) -> Any:
    world = dataclasses.replace(sc.world, own_removal_factor=own)
    return practice.new_engine(
        dataclasses.replace(sc, world=world, providers=spread_benign(sc, spread)), scale, seed
    )


def spread_benign(sc: scenario_mod.Scenario, spread: float) -> tuple[Any, ...]:
    """Providers whose benign share differs (`--benign-spread F`): by name order, every other
    provider hosts F times the world's benign images per actionable one, the others 1/F times.
    No report gives this per provider: an assumption, to see what the hosts' record of verdicts
    buys when hosts do differ. F = 1 (the default): the world as the scenario says."""
    if spread == 1.0:
        return sc.providers
    base = sc.world.benign_per_actionable
    ordered = sorted(p.name for p in sc.providers)
    factor = {name: spread if k % 2 == 0 else 1 / spread for k, name in enumerate(ordered)}
    return tuple(
        dataclasses.replace(p, benign_per_actionable=base * factor[p.name]) for p in sc.providers
    )


def observed_removal(sc: scenario_mod.Scenario) -> dict[str, tuple[float, float]]:
    """Per provider, the removal times (median, p90, days) the monitor measures from its notices:
    the scenario's row, which the world reproduces under daily notices (issue 18, part 1; a
    median of 0 days is the world's one hour)."""
    return {
        p.name: (max(p.behaviour.removal_median_days, 1 / 24), p.behaviour.removal_p90_days)
        for p in sc.providers
    }


class Backlog:
    """One world and its daily crawl, replayed for each order."""

    def __init__(self, engine: Any, days: float, removal: dict[str, Any]) -> None:
        self.engine = engine
        self.cat = engine.cat
        self.start: datetime = self.cat.scenario.world.start
        self.days = int(days)
        self.removal = removal
        self.verdict_hours = 24.0
        self.record = True  # the hosts' earlier verdicts enter the ranking
        # `review_online_window_hours` as a hotline crawling daily would set it (default 72)
        self.online_window_hours = 36.0
        self.placements: dict[int, list[Item]] = defaultdict(list)  # image id -> placements
        self.known: list[Item] = []
        for item in self.cat.items:
            frontline = item.site.frontline
            if frontline is None:
                continue
            for image_id in item.image_ids:
                if self.cat.images[image_id].label == "known":
                    self.known.append(item)
                else:
                    self.placements[image_id].append(item)
        self.crawls = [self._crawl(d) for d in range(self.days)]

    def when(self, day: int) -> datetime:
        return self.start + timedelta(days=day)

    def _crawl(self, day: int) -> tuple[list[tuple[int, Item]], dict[str, int]]:
        """What the day's crawl sees online: suspect placements, and detections per host."""
        now = self.when(day)
        seen = [
            (image_id, p)
            for image_id, items in self.placements.items()
            for p in items
            if p.online(now)
        ]
        hosts: dict[str, int] = defaultdict(int)
        for p in self.known:
            if p.uploaded_at <= now:
                hosts[p.site.domain] += 1
        return seen, hosts

    def arrivals(self) -> int:
        first: set[int] = set()
        for seen, _ in self.crawls:
            first.update(i for i, _ in seen)
        return len(first)

    def run(
        self,
        order: str,
        per_day: float,
        analysts: int,
        auc: float | None,
        seed: int,
        *,
        record: bool = True,
    ) -> Result:
        """`record=False`: the hosts' earlier verdicts withheld from the ranking (a flat
        P(actionable) without a classifier, the rule before `actionable_prior`)."""
        res = Result(
            order
            + (f"+classifier(AUC {auc:g})" if auc else "")
            + ("" if record else " (flat prior)")
        )
        self.record = record
        items: dict[int, Suspect] = {}
        open_ids: set[int] = set()
        images = self.cat.images
        for day in range(self.days):
            now = self.when(day)
            seen, detections = self.crawls[day]
            for image_id, p in seen:
                s = items.get(image_id)
                if s is None:
                    actionable = images[image_id].label != "benign"
                    s = Suspect(image_id, actionable, [], p.site.domain, now, now)
                    if auc:
                        s.score = oracle_score(seed, image_id, actionable, auc)
                    items[image_id] = s
                    open_ids.add(image_id)
                if p not in s.placements:
                    s.placements.append(p)
                s.last_seen = now
            ranked = sorted(
                open_ids,
                key=lambda i: (
                    -self.key(order, items[i], now, detections, res),
                    items[i].first_seen,
                    i,
                ),
            )
            self.assess(ranked, items, open_ids, now, per_day, analysts, res)
            res.backlog.append(len(open_ids))
            res.backlog_online.append(sum(items[i].online(now) for i in open_ids))
        end = self.when(self.days)
        res.suspects = len(items)
        res.actionable_suspects = sum(s.actionable for s in items.values())
        res.removed_before_review = sum(
            s.actionable and (s.verdict_at is None or not s.online(s.verdict_at)) and s.gone_by(end)
            for s in items.values()
        )
        return res

    def key(
        self, order: str, s: Suspect, now: datetime, detections: dict[str, int], res: Result
    ) -> int:
        provider = s.placements[0].site.frontline
        removal = self.removal.get(provider.name) if provider is not None else None
        p = PriorityInputs(
            online=now - s.last_seen <= timedelta(hours=self.online_window_hours),
            last_seen_at=s.last_seen,
            first_seen_at=s.first_seen,
            sightings=len(s.placements),
            hosts=len({x.site.domain for x in s.placements}),
            top_host=s.host,
            host_detections=detections.get(s.host, 0),
            pdq_distance=None,
            pdq_threshold=None,
            classifier_score=s.score,
            removal_days=removal,
            assessments=len(s.assessed_by),
            host_verdicts=res.host_verdicts.get(s.host, (0, 0)) if self.record else (0, 0),
            all_verdicts=res.all_verdicts,
        )
        return order_key(order, p, now, near=NEAR, verdict_hours=self.verdict_hours)

    @staticmethod
    def assess(
        ranked: list[int],
        items: dict[int, Suspect],
        open_ids: set[int],
        now: datetime,
        per_day: float,
        analysts: int,
        res: Result,
    ) -> None:
        """The day's assessments, spread over the day, analysts in turn; each takes the
        highest-ranked open item it has not assessed, an item another analyst has assessed
        first (the product ranks those above fresh ones: `AWAITING_CONSENSUS`)."""
        res.budget += per_day
        todo = int(res.budget)
        res.budget -= todo
        position = [0] * analysts
        waiting: list[int] = [i for i in ranked if items[i].assessed_by]
        for k in range(todo):
            a = res.turn % analysts
            pick = next((i for i in waiting if a not in items[i].assessed_by), None)
            while pick is None and position[a] < len(ranked):
                candidate = ranked[position[a]]
                if candidate in open_ids and not items[candidate].assessed_by:
                    pick = candidate
                position[a] += 1
            if pick is None:
                return
            at = now + timedelta(days=(k + 0.5) / max(todo, 1))
            s = items[pick]
            s.assessed_by.add(a)
            res.assessments += 1
            res.turn += 1
            if len(s.assessed_by) < CONSENSUS:
                if pick not in waiting:
                    waiting.append(pick)
                continue
            waiting.remove(pick)
            s.verdict_at = at
            open_ids.discard(pick)
            res.assessed += 1
            a, n = res.host_verdicts.get(s.host, (0, 0))
            res.host_verdicts[s.host] = (a + s.actionable, n + 1)
            res.all_verdicts = (res.all_verdicts[0] + s.actionable, res.all_verdicts[1] + 1)
            if s.actionable:
                res.actionable += 1
                if s.online(at):
                    res.noticed_while_online += 1
                    res.hours_to_notice.append((at - s.first_seen).total_seconds() / 3600)


def _fake_hashes(image_id: int) -> tuple[str, str, str]:
    """sha256, sha1, md5 standing for a picture's bytes (the store never sees the bytes here)."""
    data = f"world picture {image_id}".encode()
    return (
        hashlib.sha256(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
    )


class StoreReplay:
    """The same days on the product's own store and `ReviewService`: suspects, sightings and
    detections written as the crawl writes them, `sync` after each crawl, `refresh_priorities`
    daily, and each assessment through `next_item` and `assess` (consensus 2): the cross-check
    that the in-memory replay ranks as the store serves. Slower, so for fewer days."""

    def __init__(self, backlog: Backlog, days: int) -> None:
        self.b = backlog
        self.days = days

    def run(
        self, order: str, per_day: float, analysts: int, auc: float | None, seed: int
    ) -> Result:
        from orbweaver.clock import SettableClock
        from orbweaver.review import ReviewService, ReviewSettings, add_user, principal_of
        from orbweaver.store import open_store
        from orbweaver.store.models import Bank, BankEntry, Detection, Media, ReviewItem
        from orbweaver.store.models import Sighting as SightingRow
        from orbweaver.store.models import Suspect as SuspectRow

        b = self.b
        images = b.cat.images
        res = Result(order + (f"+classifier(AUC {auc:g})" if auc else "") + " [store]")
        with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
            store = open_store(f"sqlite:///{Path(tmp) / 'review.db'}")
            clock = SettableClock(b.when(0))
            settings = ReviewSettings(
                review_queue_order=order,
                review_verdict_hours=b.verdict_hours,
                review_online_window_hours=b.online_window_hours,
            )
            svc = ReviewService(store, clock, settings)
            by_sha: dict[str, int] = {}
            if auc:
                svc.queue.classifier = lambda item: oracle_score(
                    seed, by_sha[item.sha256], images[by_sha[item.sha256]].label != "benign", auc
                )
            # what the monitor measured of each host's notices (see `observed_removal`)
            hosts = {
                site.domain: b.removal[site.frontline.name]
                for site in b.cat.sites.values()
                if site.frontline is not None and site.frontline.name in b.removal
            }
            svc.queue.host_removal_days = lambda _s: hosts
            with store.session() as s:
                users = [
                    principal_of(add_user(s, clock, f"analyst-{i}", "analyst", "x" * 16))
                    for i in range(analysts)
                ]
                bank = Bank(name="known", enabled=True, pdq_threshold=31, created_at=clock.now())
                s.add(bank)
                s.flush()
                bank_id = bank.id
            media_of: dict[int, int] = {}
            entry_of: dict[int, int] = {}
            verdicts: dict[int, datetime] = {}
            first_seen: dict[int, datetime] = {}
            for day in range(self.days):
                now = b.when(day)
                clock.set(now)
                seen, _ = b.crawls[day]
                naive = now.replace(tzinfo=None)
                with store.session() as s:
                    for item in b.known:
                        if not item.online(now) or item.id in entry_of:
                            continue
                        sha, sha1, md5 = _fake_hashes(item.image_ids[0] + 10**7 + item.id)
                        m = Media(
                            sha256=sha,
                            sha1=sha1,
                            md5=md5,
                            size_bytes=1,
                            mime_type="image/jpeg",
                            first_seen_at=naive,
                        )
                        e = BankEntry(
                            bank_id=bank_id,
                            signal_type="sha256",
                            signal=sha,
                            category="csam_prepubescent",
                            source="world",
                            added_at=naive,
                        )
                        s.add_all([m, e])
                        s.flush()
                        row = SightingRow(
                            media_id=m.id,
                            url=item.url,
                            host=item.site.domain,
                            network="clear",
                            reached_from_tor=False,
                            seen_at=naive,
                        )
                        s.add(row)
                        s.flush()
                        s.add(
                            Detection(
                                sighting_id=row.id,
                                bank_entry_id=e.id,
                                signal_type="sha256",
                                distance=0,
                                category="csam_prepubescent",
                                detected_at=naive,
                            )
                        )
                        entry_of[item.id] = e.id
                    for image_id, p in seen:
                        new = image_id not in media_of
                        if new:
                            sha, sha1, md5 = _fake_hashes(image_id)
                            m = Media(
                                sha256=sha,
                                sha1=sha1,
                                md5=md5,
                                size_bytes=1,
                                mime_type="image/jpeg",
                                first_seen_at=naive,
                            )
                            s.add(m)
                            s.flush()
                            media_of[image_id], by_sha[sha] = m.id, image_id
                            first_seen[image_id] = now
                        row = SightingRow(
                            media_id=media_of[image_id],
                            url=p.url,
                            host=p.site.domain,
                            network="clear",
                            reached_from_tor=False,
                            seen_at=naive,
                        )
                        s.add(row)
                        s.flush()
                        if new:
                            s.add(
                                SuspectRow(
                                    sighting_id=row.id,
                                    media_id=media_of[image_id],
                                    status="pending",
                                    created_at=naive,
                                )
                            )
                svc.sync()
                svc.queue.refresh_priorities()
                res.budget += per_day
                todo = int(res.budget)
                res.budget -= todo
                for k in range(todo):
                    at = now + timedelta(days=(k + 0.5) / max(todo, 1))
                    clock.set(at)
                    who = users[res.turn % analysts]
                    item_id = svc.next_item(who)
                    if item_id is None:
                        break
                    with store.session() as s:
                        image_id = by_sha[s.get_one(ReviewItem, item_id).media.sha256]
                    actionable = images[image_id].label != "benign"
                    category = "csam_prepubescent" if actionable else "not_actionable"
                    outcome = svc.assess(who, item_id, category, None)
                    res.assessments += 1
                    res.turn += 1
                    if outcome.status != "decided":
                        continue
                    verdicts[image_id] = at
                    res.assessed += 1
                    if actionable:
                        res.actionable += 1
                        placements = b.placements[image_id]
                        if any(p.online(at) for p in placements):
                            res.noticed_while_online += 1
                            res.hours_to_notice.append(
                                (at - first_seen[image_id]).total_seconds() / 3600
                            )
                res.backlog.append(len(media_of) - len(verdicts))
            store.dispose()
        end = b.when(self.days)
        res.suspects = len(media_of)
        res.actionable_suspects = sum(images[i].label != "benign" for i in media_of)
        for image_id in media_of:
            if images[image_id].label == "benign":
                continue
            places = b.placements[image_id]
            decided = verdicts.get(image_id)
            gone = all(p.ended_at is not None and p.ended_at <= end for p in places)
            if (decided is None and gone) or (
                decided is not None and not any(p.online(decided) for p in places)
            ):
                res.removed_before_review += 1
        return res


# (order, variant): None, "auc" (the oracle classifier) or "flat" (`expected` as it was before
# the host's record of verdicts: the same P(actionable) for every item, the baseline of that rule)
ORDERS = (
    ("fifo", None),
    ("priority", None),
    ("expected", "flat"),
    ("expected", None),
    ("priority", "auc"),
    ("expected", "auc"),
)


def run(args: argparse.Namespace) -> dict[str, Any]:
    sc = scenario_mod.load(args.scenario)
    seeds = [int(s) for s in args.seeds.split(",")]
    per_seed: list[dict[str, Any]] = []
    for seed in seeds:
        t0 = time.monotonic()
        engine = build(sc, args.scale, seed, args.own_removal, args.benign_spread)
        removal = observed_removal(sc)
        backlog = Backlog(engine, args.days, removal)
        arrivals = backlog.arrivals()
        per_day = args.load * arrivals / args.days
        # `review_verdict_hours` as a hotline would set it: ranks are a day old at worst (the
        # daily refresh), and a verdict waits for two assessments
        backlog.verdict_hours = 24.0 + 24.0 / per_day
        backlog.online_window_hours = args.online_window
        built = time.monotonic() - t0
        rows = []
        for order, clf in ORDERS:
            t1 = time.monotonic()
            auc = args.auc if clf == "auc" else None
            result = backlog.run(order, per_day, args.analysts, auc, seed, record=clf != "flat")
            rows.append({**result.row(), "seconds": round(time.monotonic() - t1, 1)})
        store_rows = []
        if args.store_days:
            # the cross-check: the same world, the first `--store-days`, in memory and on the store
            short = Backlog(
                build(sc, args.scale, seed, args.own_removal, args.benign_spread),
                args.store_days,
                removal,
            )
            short.verdict_hours = backlog.verdict_hours
            short.online_window_hours = backlog.online_window_hours
            for order, clf in ORDERS:
                if clf == "flat":
                    continue  # the product has no such order; the replay's baseline only
                auc = args.auc if clf else None
                for runner in (short.run, StoreReplay(short, int(args.store_days)).run):
                    t1 = time.monotonic()
                    result = runner(order, per_day, args.analysts, auc, seed)
                    store_rows.append({**result.row(), "seconds": round(time.monotonic() - t1, 1)})
        truth_auc = auc_of(
            [
                (
                    oracle_score(seed, i, backlog.cat.images[i].label != "benign", args.auc),
                    backlog.cat.images[i].label != "benign",
                )
                for i in backlog.placements
            ]
        )
        per_seed.append(
            {
                "seed": seed,
                "suspects_seen": arrivals,
                "assessments_per_day": round(per_day, 2),
                "arrivals_per_day": round(arrivals / args.days, 2),
                "oracle_auc_measured": round(truth_auc, 3),
                "build_seconds": round(built, 1),
                "orders": rows,
                "store_check": store_rows,
            }
        )
    return {
        "scenario": sc.world.name,
        "scale": args.scale,
        "days": args.days,
        "seeds": seeds,
        "load": args.load,
        "analysts": args.analysts,
        "own_removal_factor": args.own_removal,
        "auc": args.auc,
        "online_window_hours": args.online_window,
        "benign_spread": args.benign_spread,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "loadavg": os.getloadavg(),
        "runs": per_seed,
        "summary": summarise(per_seed),
    }


def summarise(per_seed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per order, sums over the seeds, and ratios to fifo's."""
    keys = (
        "suspects",
        "assessed",
        "assessments",
        "actionable",
        "noticed_while_online",
        "removed_before_review",
        "actionable_suspects",
    )
    names = [r["order"] for r in per_seed[0]["orders"]]
    out = []
    for k, name in enumerate(names):
        rows = [run["orders"][k] for run in per_seed]
        total = {key: sum(r[key] for r in rows) for key in keys}
        hours = [h for r in rows if (h := r["median_hours_suspect_to_notice"])]
        total["order"] = name
        total["median_hours_suspect_to_notice"] = (
            round(statistics.median(hours), 1) if hours else None
        )
        total["images_shown_per_actionable_verdict"] = (
            round(total["assessments"] / total["actionable"], 2) if total["actionable"] else None
        )
        total["seconds"] = round(sum(r["seconds"] for r in rows), 1)
        out.append(total)
    base = out[0]
    for row in out:
        row["noticed_vs_fifo"] = (
            round(row["noticed_while_online"] / base["noticed_while_online"], 2)
            if base["noticed_while_online"]
            else None
        )
        shown, fifo_shown = (
            row["images_shown_per_actionable_verdict"],
            base["images_shown_per_actionable_verdict"],
        )
        row["shown_per_verdict_vs_fifo"] = (
            round(shown / fifo_shown, 2) if shown and fifo_shown else None
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| order | suspects | assessed | actionable verdicts | noticed while online | vs fifo "
        "| actionable gone before review | median h to notice | images shown / actionable verdict "
        "| vs fifo |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["summary"]:
        lines.append(
            f"| {r['order']} | {r['suspects']} | {r['assessed']} | {r['actionable']} "
            f"| {r['noticed_while_online']} | {r['noticed_vs_fifo']}× "
            f"| {r['removed_before_review']} "
            f"| {r['median_hours_suspect_to_notice']} | {r['images_shown_per_actionable_verdict']} "
            f"| {r['shown_per_verdict_vs_fifo']}× |"
        )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    first = result["runs"][0]
    days = range(len(first["orders"][0]["backlog"]))
    ax1.plot(days, first["orders"][0]["backlog"], color="black", label="open items (every order)")
    for row in first["orders"]:
        ax1.plot(days, row["backlog_online"], label=f"{row['order']}: open and still online")
    ax1.set_xlabel("simulated day")
    ax1.set_ylabel("items waiting for a verdict")
    ax1.set_title(f"Backlog, seed {first['seed']}")
    ax1.legend(fontsize=8)
    names = [r["order"] for r in result["summary"]]
    noticed = [r["noticed_while_online"] for r in result["summary"]]
    gone = [r["removed_before_review"] for r in result["summary"]]
    x = range(len(names))
    ax2.bar([i - 0.2 for i in x], noticed, width=0.4, label="noticed while online")
    ax2.bar([i + 0.2 for i in x], gone, width=0.4, label="gone before review")
    ax2.set_xticks(list(x))
    ax2.set_xticklabels([n.replace("+classifier", "\n+clf") for n in names], fontsize=7)
    ax2.set_ylabel("actionable suspects (all seeds)")
    ax2.set_title("Actionable suspects by queue order")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="scenarios/table-1.0.toml")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--days", type=float, default=180.0)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--load", type=float, default=0.25, help="capacity / arrival rate")
    parser.add_argument("--analysts", type=int, default=2)
    parser.add_argument("--own-removal", type=float, default=1.0)
    parser.add_argument("--auc", type=float, default=0.9)
    parser.add_argument(
        "--online-window",
        type=float,
        default=36.0,
        help="review_online_window_hours (crawl: daily)",
    )
    parser.add_argument(
        "--store-days",
        type=float,
        default=0.0,
        help="also replay this many days on the product's store and ReviewService (cross-check)",
    )
    parser.add_argument(
        "--benign-spread",
        type=float,
        default=1.0,
        help="hosts differ: every other provider F times the benign share, the others 1/F",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    started = time.monotonic()
    before = os.getloadavg()
    result = run(args)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["loadavg_before"] = before
    print(markdown(result))
    print(
        f"\n{result['seconds']} s wall clock; load average {before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; per seed: "
        + "; ".join(
            f"seed {r['seed']}: {r['suspects_seen']} suspects, {r['arrivals_per_day']}/day, "
            f"{r['assessments_per_day']} assessments/day, oracle AUC {r['oracle_auc_measured']}"
            for r in result["runs"]
        )
    )
    for run_ in result["runs"]:
        if run_["store_check"]:
            print(
                f"\nseed {run_['seed']}, first {args.store_days:g} days: in memory / on the store"
            )
            for r in run_["store_check"]:
                print(
                    f"  {r['order']}: assessed {r['assessed']}, actionable {r['actionable']}, "
                    f"noticed while online {r['noticed_while_online']} ({r['seconds']} s)"
                )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    if args.png:
        plot(result, args.png)


if __name__ == "__main__":
    main()
