"""The re-check rules of `monitor/service.py`, each pinned on both sides (from the mutation run
of `monitor-service`, see TESTING.md): the schedule with no listed offsets, what an archive is
compared with, the outcome of one fetch, the counts of a batch, the stored detail, a lowered
confirmation, a stop mid-batch (finished fetches recorded, the rest handed back), draining
batch after batch.

No web server: a scripted fetcher answers each URL with a `FetchResult`. No picture but the
synthetic ones of `test_monitor`.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta
from typing import cast

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from monitor.test_monitor import _picture
from orbweaver.clock import SettableClock
from orbweaver.monitor import MonitorSettings, check_due, due_after, next_scheduled, service
from orbweaver.monitor.service import (
    MonitorStats,
    Precheck,
    Target,
    check_all_due,
    claim_due_checks,
    classify,
    precheck,
    release_checks,
)
from orbweaver.net import FetchResult, GuardedFetcher
from orbweaver.store import Store, store_now
from orbweaver.store.models import Check, Notice
from takedown.helpers import noticed_bytes

SETTINGS = MonitorSettings(
    recheck_schedule_hours=[1, 6, 24],
    recheck_every_hours=24,
    offline_confirm_misses=3,
    offline_confirm_spacing_minutes=5,
)
NOTICED = b"synthetic noticed bytes, not a picture"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Replies:
    """A fetcher that answers each URL as the test scripted it (and counts the fetches)."""

    def __init__(self) -> None:
        self.replies: dict[str, FetchResult] = {}
        self.fetched: list[str] = []

    def serve(self, url: str, body: bytes | None, status: int | None = 200, **kw: object) -> None:
        digest = sha(body) if body is not None else None
        self.replies[url] = FetchResult(url, status, digest, body, **kw)

    def get(self, url: str, kind: str = "media") -> FetchResult:
        self.fetched.append(url)
        return self.replies[url]

    @property
    def fetcher(self) -> GuardedFetcher:
        return cast(GuardedFetcher, self)


def noticed(url: str) -> bytes:
    """The noticed bytes at `url` (each notice its own media)."""
    return NOTICED + url.encode()


def notice(store: Store, clock: SettableClock, url: str, kind: str = "media") -> int:
    nid = noticed_bytes(store, clock.now(), url, noticed(url), "127.0.0.1")
    if kind != "media":
        with store.session() as s:
            s.get_one(Notice, nid).kind = kind
    return nid


def checks(store: Store, nid: int) -> list[Check]:
    with store.session() as s:
        return list(s.scalars(select(Check).where(Check.notice_id == nid).order_by(Check.id)))


# --- the schedule -----------------------------------------------------------------------------


def test_with_no_listed_offsets_the_rechecks_start_one_interval_after_the_notice() -> None:
    t0 = datetime(2021, 1, 1)
    every_day = MonitorSettings(recheck_schedule_hours=[], recheck_every_hours=24)
    assert [due_after(t0, k, every_day) - t0 for k in range(3)] == [
        timedelta(hours=h) for h in (24, 48, 72)
    ]
    assert next_scheduled(t0, t0 + timedelta(hours=1), every_day) == t0 + timedelta(hours=24)


def test_the_next_regular_check_is_strictly_after_now() -> None:
    t0 = datetime(2021, 1, 1)
    # exactly on a listed offset: the next one
    assert next_scheduled(t0, t0 + timedelta(hours=6), SETTINGS) == t0 + timedelta(hours=24)
    # exactly on a multiple of the interval after the last offset: one interval later
    assert next_scheduled(t0, t0 + timedelta(hours=48), SETTINGS) == t0 + timedelta(hours=72)
    assert next_scheduled(t0, t0 + timedelta(hours=47), SETTINGS) == t0 + timedelta(hours=48)
    # the interval counts from the last listed offset, not from the notice
    odd = MonitorSettings(recheck_schedule_hours=[1, 25], recheck_every_hours=24)
    assert next_scheduled(t0, t0 + timedelta(hours=30), odd) == t0 + timedelta(hours=49)


# --- one fetch's outcome ----------------------------------------------------------------------


def test_the_outcome_of_one_fetch() -> None:
    media = Target(1, "http://x.test/a", "media", sha256={sha(NOTICED)})
    url = media.url
    assert classify(media, FetchResult(url, 200, sha(NOTICED), NOTICED)) == (
        "online",
        "same bytes",
    )
    other = b"a placeholder"
    assert classify(media, FetchResult(url, 200, sha(other), other)) == (
        "changed",
        "different content at the URL",
    )
    assert classify(media, FetchResult(url, 404)) == ("offline", "HTTP 404")
    assert classify(media, FetchResult(url, None, error="refused")) == ("offline", "refused")
    assert classify(media, FetchResult(url, None, inconclusive=True)) == (
        "unknown",
        "no DNS answer",
    )
    assert classify(media, FetchResult(url, None, error="SERVFAIL", inconclusive=True)) == (
        "unknown",
        "SERVFAIL",
    )


def test_an_archive_is_compared_with_its_first_online_check() -> None:
    first, later = b"archive as first seen online", b"archive repacked"
    url = "http://x.test/a.zip"
    unseen = Target(1, url, "archive", sha256={sha(NOTICED)})
    # no online check yet: whatever archive is served is taken as the noticed one
    assert classify(unseen, FetchResult(url, 200, sha(later), later)) == (
        "online",
        "archive served",
    )
    seen = Target(1, url, "archive", sha256={sha(NOTICED)}, baseline=sha(first))
    assert classify(seen, FetchResult(url, 200, sha(first), first)) == ("online", "archive served")
    assert classify(seen, FetchResult(url, 200, sha(later), later)) == (
        "changed",
        "archive bytes differ from the first online check",
    )


def test_an_archives_baseline_is_loaded_from_its_first_online_check(
    store: Store, clock: SettableClock
) -> None:
    url = "http://x.test/pack.zip"
    nid = notice(store, clock, url, kind="archive")
    web = Replies()
    first, later = b"archive as first seen online", b"archive repacked"
    for answer in ((404, None), (200, first), (200, later), (200, first)):
        web.serve(url, answer[1], answer[0])
        clock.advance(timedelta(days=3))
        check_due(store, clock, web.fetcher, SETTINGS)
    assert [c.outcome for c in checks(store, nid)] == ["offline", "online", "changed", "online"]


def test_a_picture_within_the_banks_threshold_is_online_and_the_closest_noticed_one_counts() -> (
    None
):
    from orbweaver.signals import compute_signals

    served = _picture(11)
    pdq = compute_signals(served).pdq
    assert pdq is not None
    bits = int(pdq, 16)
    at_5 = f"{bits ^ 0b11111:064x}"
    at_9 = f"{bits ^ 0b111111111:064x}"
    url = "http://x.test/p.jpg"
    result = FetchResult(url, 200, sha(served), served)

    def target(*pdqs: tuple[str, int]) -> Target:
        return Target(1, url, "media", sha256={sha(NOTICED)}, pdq=list(pdqs))

    assert classify(target((at_5, 5)), result) == ("online", "different bytes, PDQ distance 5")
    assert classify(target((at_5, 31)), result) == ("online", "different bytes, PDQ distance 5")
    assert classify(target((at_5, 4)), result)[0] == "changed"
    assert classify(target((at_9, 9), (at_5, 5)), result)[1].endswith("PDQ distance 5")
    # the closest is beyond its own threshold, a farther one within its own: not a match
    assert classify(target((at_5, 4), (at_9, 31)), result)[0] == "changed"
    # noticed media without a PDQ (not a picture): a picture served is other content
    assert classify(target(), result) == ("changed", "different content at the URL")
    # a picture that breaks while decoding is no perceptual match (and no crash)
    cut = served[: len(served) // 2]
    assert classify(target((at_5, 31)), FetchResult(url, 200, sha(cut), cut)) == (
        "changed",
        "different content at the URL",
    )


# --- what one check records -------------------------------------------------------------------


def test_each_check_counts_once_in_the_batch_and_on_the_notice(
    store: Store, clock: SettableClock
) -> None:
    url = "http://x.test/a.jpg"
    nid = notice(store, clock, url)
    web = Replies()
    seen: list[MonitorStats] = []

    def check(body: bytes | None, status: int | None = 200, **kw: object) -> None:
        web.serve(url, body, status, **kw)
        clock.advance(timedelta(days=3))
        seen.append(check_due(store, clock, web.fetcher, SETTINGS))

    check(noticed(url))
    check(None, None, inconclusive=True)
    check(b"a placeholder")
    check(None, 404)
    check(None, 410)
    assert seen == [
        MonitorStats(checked=1, online=1),
        MonitorStats(checked=1, unknown=1),
        MonitorStats(checked=1, misses=1, changed=1),
        MonitorStats(checked=1, misses=1),
        MonitorStats(checked=1, misses=1, confirmed=1),
    ]
    with store.session() as s:
        n = s.get_one(Notice, nid)
        assert n.checks_done == 5 and n.miss_count == 3 and n.status == "removed"
    assert [c.confirmed for c in checks(store, nid)] == [False] * 4 + [True]


def test_what_each_outcome_schedules(store: Store, clock: SettableClock) -> None:
    """Online: the next listed offset after now; unknown or a miss short of confirmation: again
    after the spacing; the confirming miss: nothing more."""
    url = "http://x.test/a.jpg"
    nid = notice(store, clock, url)
    sent = store_now(clock)
    web = Replies()
    spacing = timedelta(minutes=SETTINGS.offline_confirm_spacing_minutes)
    expected = []
    for body, status, kw, step in (
        (noticed(url), 200, {}, timedelta(hours=1)),
        (None, None, {"inconclusive": True}, timedelta(hours=5)),
        (None, 404, {}, spacing),
        (None, 404, {}, spacing),
        (None, 404, {}, spacing),
    ):
        web.serve(url, body, status, **kw)
        clock.advance(step)
        check_due(store, clock, web.fetcher, SETTINGS)
        with store.session() as s:
            expected.append(s.get_one(Notice, nid).next_check_at)
    at = sent + timedelta(hours=6)
    assert expected == [at, at + spacing, at + 2 * spacing, at + 3 * spacing, None]


def test_a_batchs_outcomes_are_counted_in_the_metrics(store: Store, clock: SettableClock) -> None:
    def value(outcome: str) -> float:
        found = REGISTRY.get_sample_value("orbweaver_monitor_checks_total", {"outcome": outcome})
        return found or 0.0

    web = Replies()
    urls = [f"http://x.test/{i}.jpg" for i in range(4)]
    for url in urls:
        notice(store, clock, url)
    web.serve(urls[0], noticed(urls[0]))
    web.serve(urls[1], b"a placeholder")
    web.serve(urls[2], None, 404)
    web.serve(urls[3], None, 410)
    before = {o: value(o) for o in ("online", "changed", "offline", "unknown")}
    clock.advance(timedelta(hours=2))
    check_due(store, clock, web.fetcher, SETTINGS)
    after = {o: value(o) - before[o] for o in before}
    assert after == {"online": 1, "changed": 1, "offline": 2, "unknown": 0}


def test_the_stored_detail_is_cut_at_1000_characters(store: Store, clock: SettableClock) -> None:
    url = "http://x.test/a.jpg"
    nid = notice(store, clock, url)
    web = Replies()
    web.serve(url, None, None, error="e" * 1500)
    clock.advance(timedelta(hours=2))
    check_due(store, clock, web.fetcher, SETTINGS)
    (c,) = checks(store, nid)
    assert c.outcome == "offline" and c.detail == "e" * 1000


def test_a_confirmation_lowered_mid_streak_confirms_at_the_next_miss(
    store: Store, clock: SettableClock
) -> None:
    url = "http://x.test/a.jpg"
    nid = notice(store, clock, url)
    web = Replies()
    web.serve(url, None, 404)
    for _ in range(2):
        clock.advance(timedelta(hours=2))
        check_due(store, clock, web.fetcher, SETTINGS)
    lowered = SETTINGS.model_copy(update={"offline_confirm_misses": 1})
    clock.advance(timedelta(hours=2))
    stats = check_due(store, clock, web.fetcher, lowered)
    assert stats.confirmed == 1
    with store.session() as s:
        n = s.get_one(Notice, nid)
        assert n.status == "removed" and n.miss_count == 3


# --- claims -----------------------------------------------------------------------------------


def test_a_check_due_exactly_now_is_claimed_until_its_lease_ends(
    store: Store, clock: SettableClock
) -> None:
    nid = notice(store, clock, "http://x.test/a.jpg")
    assert claim_due_checks(store, clock, SETTINGS, 10) == []  # scheduled for +1 h
    clock.advance(timedelta(hours=1))
    assert claim_due_checks(store, clock, SETTINGS, 10) == [nid]
    assert claim_due_checks(store, clock, SETTINGS, 10) == []  # claimed: not due to anyone
    with store.session() as s:
        lease = s.get_one(Notice, nid).next_check_at
    assert lease == store_now(clock) + timedelta(seconds=SETTINGS.monitor_lease_s)


def test_handing_back_claims_makes_only_those_due_now(store: Store, clock: SettableClock) -> None:
    ids = [notice(store, clock, f"http://x.test/{i}.jpg") for i in range(3)]
    clock.advance(timedelta(hours=1))
    assert claim_due_checks(store, clock, SETTINGS, 10) == ids
    earlier = store_now(clock) - timedelta(minutes=1)
    with store.session() as s:
        s.get_one(Notice, ids[1]).next_check_at = earlier  # checked and rescheduled meanwhile
        s.get_one(Notice, ids[2]).status = "removed"
    assert release_checks(store, clock, ids, SETTINGS) == 1
    with store.session() as s:
        after = [s.get_one(Notice, i).next_check_at for i in ids]
    lease = store_now(clock) + timedelta(seconds=SETTINGS.monitor_lease_s)
    assert after == [store_now(clock), earlier, lease]
    assert release_checks(store, clock, ids, SETTINGS) == 0  # nothing claimed is left


def test_a_stop_records_the_finished_fetches_and_hands_back_the_others(
    store: Store, clock: SettableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled fetches need not be the last ones of a batch (the pool starts them as its
    workers free up while the stop cancels): every finished one is recorded."""
    urls = [f"http://x.test/{i}.jpg" for i in range(3)]
    ids = [notice(store, clock, url) for url in urls]

    def fetch_some(
        fetcher: GuardedFetcher, targets: list[Target], workers: int, stop: object
    ) -> list[FetchResult | None]:
        assert [t.notice_id for t in targets] == ids
        body = noticed(urls[1])
        return [None, FetchResult(urls[1], 200, sha(body), body), None]

    monkeypatch.setattr(service, "_fetch_all", fetch_some)
    clock.advance(timedelta(hours=1))
    stats = check_due(store, clock, Replies().fetcher, SETTINGS, stop=threading.Event())
    assert stats == MonitorStats(checked=1, online=1)
    assert [len(checks(store, i)) for i in ids] == [0, 1, 0]
    with store.session() as s:
        due = [s.get_one(Notice, i).next_check_at for i in ids]
    assert due[0] == due[2] == store_now(clock)
    assert due[1] == store_now(clock) + timedelta(hours=5)  # the +6 h check


def test_a_stop_during_a_fetch_cancels_those_not_started(
    store: Store, clock: SettableClock
) -> None:
    """One fetch at a time; the stop comes while the first is still fetching: the two behind it
    never start, and their claims are handed back (due at once); the first is recorded."""
    urls = [f"http://x.test/{i}.jpg" for i in range(3)]
    ids = [notice(store, clock, url) for url in urls]
    stop = threading.Event()

    class Slow(Replies):
        def get(self, url: str, kind: str = "media") -> FetchResult:
            stop.set()
            threading.Event().wait(1.5)  # the batch sees the stop meanwhile
            return super().get(url, kind)

    web = Slow()
    for url in urls:
        web.serve(url, noticed(url))
    clock.advance(timedelta(hours=1))
    one_at_a_time = SETTINGS.model_copy(update={"monitor_concurrency": 1})
    stats = check_due(store, clock, web.fetcher, one_at_a_time, stop=stop)
    assert web.fetched == urls[:1] and stats == MonitorStats(checked=1, online=1)
    with store.session() as s:
        due = [s.get_one(Notice, i).next_check_at for i in ids]
    assert due[1] == due[2] == store_now(clock)
    assert due[0] == store_now(clock) + timedelta(hours=5)


def test_a_zero_concurrency_setting_still_fetches(store: Store, clock: SettableClock) -> None:
    url = "http://x.test/a.jpg"
    nid = notice(store, clock, url)
    web = Replies()
    web.serve(url, noticed(url))
    clock.advance(timedelta(hours=1))
    none_at_once = SETTINGS.model_copy(update={"monitor_concurrency": 0})
    assert check_due(store, clock, web.fetcher, none_at_once).online == 1
    assert [c.outcome for c in checks(store, nid)] == ["online"]


def test_no_more_fetches_run_at_once_than_the_concurrency_setting(
    store: Store, clock: SettableClock
) -> None:
    """Each fetch waits (briefly) for a second one to start beside it: with a concurrency of 1
    none does, with 2 both do."""

    class Overlapping(Replies):
        def __init__(self) -> None:
            super().__init__()
            self.lock = threading.Lock()
            self.active = self.most = 0
            self.together = threading.Event()

        def get(self, url: str, kind: str = "media") -> FetchResult:
            with self.lock:
                self.active += 1
                self.most = max(self.most, self.active)
                if self.active > 1:
                    self.together.set()
            self.together.wait(0.5)
            with self.lock:
                self.active -= 1
            return super().get(url, kind)

    urls = [f"http://x.test/{i}.jpg" for i in range(2)]
    for url in urls:
        notice(store, clock, url)
    for concurrency, most, later in ((1, 1, 1), (2, 2, 5)):
        web = Overlapping()
        for url in urls:
            web.serve(url, noticed(url))
        clock.advance(timedelta(hours=later))
        settings = SETTINGS.model_copy(update={"monitor_concurrency": concurrency})
        assert check_due(store, clock, web.fetcher, settings).online == 2
        assert web.most == most, concurrency


# --- draining ---------------------------------------------------------------------------------


def test_draining_goes_batch_after_batch_until_nothing_is_due_or_stopped(
    store: Store, clock: SettableClock
) -> None:
    web = Replies()
    for i in range(3):
        url = f"http://x.test/{i}.jpg"
        notice(store, clock, url)
        web.serve(url, noticed(url))
    in_twos = SETTINGS.model_copy(update={"monitor_batch_size": 2})
    clock.advance(timedelta(hours=1))
    stopped = threading.Event()
    stopped.set()
    assert check_all_due(store, clock, web.fetcher, in_twos, stop=stopped) == 0
    assert web.fetched == []
    batches: list[int] = []
    running = threading.Event()
    drained = check_all_due(
        store,
        clock,
        web.fetcher,
        in_twos,
        stop=running,
        on_batch=lambda stats: batches.append(stats.checked),
    )
    assert drained == 3 and batches == [2, 1]
    clock.advance(timedelta(hours=5))  # the +6 h checks: the same without a stop event
    assert check_all_due(store, clock, web.fetcher, in_twos) == 3


# --- the check before a first notice ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kw", "outcome"),
    [
        (200, noticed("http://x.test/a.jpg"), {}, "online"),
        (200, b"a placeholder", {}, "gone"),
        (404, None, {}, "gone"),
        (410, None, {}, "gone"),
        (451, None, {}, "gone"),
        (503, None, {}, "unclear"),
        (None, None, {"error": "timed out"}, "unclear"),
        (None, None, {"inconclusive": True}, "unclear"),
    ],
)
def test_the_check_before_a_first_notice(
    store: Store,
    clock: SettableClock,
    status: int | None,
    body: bytes | None,
    kw: dict[str, object],
    outcome: str,
) -> None:
    url = "http://x.test/a.jpg"
    nid = notice(store, clock, url)
    web = Replies()
    web.serve(url, body, status, **kw)
    got = precheck(store, web.fetcher, nid)
    assert got == Precheck(outcome, got.detail, status)
    assert checks(store, nid) == []  # records nothing
