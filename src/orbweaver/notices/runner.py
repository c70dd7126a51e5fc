"""One notifier pass: plan notices for new detections, schedule due rounds, batch the daily
digests of providers who asked for them, deliver the outbox.

Used by `orbweaver notify` and by anything that runs the product in one process (the demo).
Each step commits on its own, so a crash between steps loses nothing: the next pass picks up
where this one stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from orbweaver.clock import Clock
from orbweaver.notices.digests import build_digests
from orbweaver.notices.outbox import DeliveryStats, deliver_due
from orbweaver.notices.planning import Attributor, PlanStats, plan_notices
from orbweaver.notices.rounds import make_on_sent, schedule_rounds
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.transport import SmtpWebhookTransport, Transport
from orbweaver.store import Store


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
) -> PassStats:
    settings = settings or NoticeSettings()
    with store.session() as session:
        plan = plan_notices(session, clock, attributor, settings)
    with store.session() as session:
        rounds = schedule_rounds(session, clock, settings)
    with store.session() as session:
        digests = build_digests(session, clock, settings)
    own = transport is None
    t: Transport = transport or SmtpWebhookTransport(settings)
    try:
        total = DeliveryStats()
        while True:
            stats = deliver_due(store, clock, t, settings, on_sent=make_on_sent(settings))
            total.sent += stats.sent
            total.retried += stats.retried
            total.failed += stats.failed
            total.errors += stats.errors
            if stats.sent + stats.retried + stats.failed == 0:
                break
    finally:
        if own:
            t.close()
    return PassStats(plan, rounds, total, digests)


def default_attributor(clock: Clock) -> Attributor:
    """The configured attribution chain (DNS servers and RDAP bootstrap from settings)."""
    from orbweaver.attribution import Attributor as ChainAttributor
    from orbweaver.config import get_settings
    from orbweaver.net import Resolver

    return ChainAttributor(clock, Resolver(get_settings().dns_servers))
