"""One notifier pass: plan notices for new detections, schedule due rounds, batch the daily
digests of providers who asked for them, deliver the outbox.

Used by `orbweaver notify` and by anything that runs the product in one process (the demo).
Each step commits on its own, so a crash between steps loses nothing: the next pass picks up
where this one stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orbweaver.clock import Clock
from orbweaver.notices.digests import build_digests
from orbweaver.notices.gate import Gate
from orbweaver.notices.outbox import DeliveryStats, deliver_due
from orbweaver.notices.planning import Attributor, PlanStats, plan_notices
from orbweaver.notices.rounds import make_on_sent, schedule_rounds
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.transport import SmtpWebhookTransport, Transport
from orbweaver.store import Store

if TYPE_CHECKING:
    from orbweaver.net import GuardedFetcher
    from orbweaver.supervise import Backoff

log = logging.getLogger(__name__)
# Held by the one notifier planning notices, rounds and digests in a pass (see `notify_pass`).
PLANNING_LOCK = "notices.planning"


@dataclass
class PassStats:
    plan: PlanStats
    rounds: int
    delivery: DeliveryStats
    digests: int = 0


def notify_pass(
    store: Store,
    clock: Clock,
    attributor: Attributor,
    settings: NoticeSettings | None = None,
    transport: Transport | None = None,
    *,
    stop: threading.Event | None = None,
    fetcher: GuardedFetcher | None = None,
) -> PassStats:
    """One pass. Planning, rounds and digests are done by one notifier at a time (the others
    skip them for this pass: two planning the same detections at once would collide); delivery
    is shared, every row claimed by one notifier. With `stop` set, delivery hands back what it
    claimed and did not start (`outbox.deliver_due`) and the pass ends. Every message passes
    the gate first (`gate.Gate`: holds; with `fetcher`, the re-check before a first notice)."""
    settings = settings or NoticeSettings()
    gate = Gate(settings, fetcher)
    plan, rounds, digests = PlanStats(), 0, 0
    with store.session() as session:
        if store.try_lock(session, PLANNING_LOCK):
            plan = plan_notices(session, clock, attributor, settings)
    with store.session() as session:
        if store.try_lock(session, PLANNING_LOCK):
            rounds = schedule_rounds(session, clock, settings)
    with store.session() as session:
        if store.try_lock(session, PLANNING_LOCK):
            digests = build_digests(session, clock, settings)
    own = transport is None
    t: Transport = transport or SmtpWebhookTransport(settings)
    try:
        total = DeliveryStats()
        while stop is None or not stop.is_set():
            stats = deliver_due(
                store, clock, t, settings, on_sent=make_on_sent(settings), stop=stop, gate=gate
            )
            total.sent += stats.sent
            total.retried += stats.retried
            total.failed += stats.failed
            total.released += stats.released
            total.errors += stats.errors
            total.held += stats.held
            total.deferred += stats.deferred
            total.gone += stats.gone
            progress = stats.sent + stats.retried + stats.failed
            if progress + stats.held + stats.deferred + stats.gone == 0:
                break
    finally:
        if own:
            t.close()
    passed = PassStats(plan, rounds, total, digests)
    count_pass(passed)
    return passed


def count_pass(stats: PassStats) -> None:
    """A pass's figures into the process' metrics (`orbweaver_notices_*_total`)."""
    from orbweaver.ops import count, count_error

    count("notices", "created", stats.plan.notices, doc="Notices created")
    queued = stats.plan.enqueued + stats.rounds + stats.digests
    count("notices", "messages_queued", queued, doc="Messages put in the outbox")
    count("notices", "messages_sent", stats.delivery.sent, doc="Messages delivered")
    count("notices", "messages_failed", stats.delivery.failed, doc="Messages failed for good")
    count("notices", "messages_retried", stats.delivery.retried, doc="Deliveries to retry")
    count("notices", "messages_released", stats.delivery.released, doc="Claims handed back")
    count("notices", "messages_held", stats.delivery.held, doc="Messages put back: on hold")
    count(
        "notices",
        "removed_before_notice",
        stats.delivery.gone,
        doc="First notices dropped: content gone at the re-check before sending",
    )
    count_error("notices", "unattributed", stats.plan.unattributed)
    count_error("notices", "delivery_transient", stats.delivery.retried)
    count_error("notices", "delivery_failed", stats.delivery.failed)


def notify_loop(
    store: Store,
    clock: Clock,
    attributor: Attributor,
    *,
    every_s: float,
    settings: NoticeSettings | None = None,
    transport: Transport | None = None,
    stop: threading.Event | None = None,
    backoff: Backoff | None = None,
    on_pass: Callable[[PassStats], None] | None = None,
    fetcher: GuardedFetcher | None = None,
) -> None:
    """A pass every `every_s` seconds until `stop`, through outages (`supervise.run_loop`);
    a stop during delivery hands back the claims not yet started."""
    from orbweaver.supervise import run_loop

    def step() -> None:
        stats = notify_pass(
            store, clock, attributor, settings, transport, stop=stop, fetcher=fetcher
        )
        (on_pass or log_pass)(stats)

    run_loop(step, name="notify", every_s=every_s, backoff=backoff, stop=stop)


def log_pass(stats: PassStats) -> None:
    """One log line for a pass that did something (a role's log is not a terminal)."""
    d = stats.delivery
    done = stats.plan.notices + stats.rounds + d.sent + d.retried + d.gone
    if done or d.failed:
        log.info(
            "notify: notices %d, rounds %d, sent %d, retrying %d, failed %d, held %d, "
            "removed before notice %d",
            stats.plan.notices,
            stats.rounds,
            d.sent,
            d.retried,
            d.failed,
            d.held,
            d.gone,
        )


def default_attributor(clock: Clock) -> Attributor:
    """The configured attribution chain (DNS servers and RDAP bootstrap from settings)."""
    from orbweaver.attribution import Attributor as ChainAttributor
    from orbweaver.config import get_settings
    from orbweaver.net import Resolver

    return ChainAttributor(clock, Resolver(get_settings().dns_servers))
