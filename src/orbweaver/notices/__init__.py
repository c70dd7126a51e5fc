"""The notices stage (docs/architecture.md): removal notices, their rounds, and their delivery.

Modules, one job each: `planning` (detections → notices, items, the first round), `rounds`
(follow-ups, escalation up the chain, the bookkeeping when a message is sent), `digests` (daily
batches for providers who asked), `report_input` + `xarf` + `compose` (what a message says, as
X-ARF v4 and as e-mail text), `outbox` + `transport` (delivery, exactly once as far as a
protocol allows), `runner` (one notifier pass of all of them).

Public surface (other stages import these from `orbweaver.notices`, never from its modules):
`notify_pass`, `notify_loop` (the notify role's loop), `log_pass`, `PassStats`,
`default_attributor`, `plan_notices`, `PlanStats`, `Attributor`, `schedule_rounds`,
`make_on_sent`, `build_digests`, `deliver_due`, `DeliveryStats`, `NoticeSettings`,
`SmtpWebhookTransport`, `Transport`, `build_email`, `validation_errors`; holds (`holds`, issue
19): `add_hold`, `release_hold`, `list_holds`, `HoldRow`, `HoldError`.
`SmtpWebhookTransport`, `Transport`, `build_email`, `validation_errors`, `requeue_failed`
(the console's retry button, as `orbweaver notices retry`).
Nothing is imported until used (`orbweaver._lazy`), so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.notices.compose import build_email
    from orbweaver.notices.digests import build_digests
    from orbweaver.notices.holds import HoldError, HoldRow, add_hold, list_holds, release_hold
    from orbweaver.notices.outbox import DeliveryStats, deliver_due, requeue_failed
    from orbweaver.notices.planning import Attributor, PlanStats, plan_notices
    from orbweaver.notices.rounds import make_on_sent, schedule_rounds
    from orbweaver.notices.runner import (
        PassStats,
        default_attributor,
        log_pass,
        notify_loop,
        notify_pass,
    )
    from orbweaver.notices.settings import NoticeSettings
    from orbweaver.notices.transport import SmtpWebhookTransport, Transport
    from orbweaver.notices.xarf import validation_errors
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".compose": ["build_email"],
            ".digests": ["build_digests"],
            ".holds": ["HoldError", "HoldRow", "add_hold", "list_holds", "release_hold"],
            ".outbox": ["DeliveryStats", "deliver_due", "requeue_failed"],
            ".planning": ["Attributor", "PlanStats", "plan_notices"],
            ".rounds": ["make_on_sent", "schedule_rounds"],
            ".runner": [
                "PassStats",
                "default_attributor",
                "log_pass",
                "notify_loop",
                "notify_pass",
            ],
            ".settings": ["NoticeSettings"],
            ".transport": ["SmtpWebhookTransport", "Transport"],
            ".xarf": ["validation_errors"],
        },
    )

__all__ = [
    "Attributor",
    "DeliveryStats",
    "HoldError",
    "HoldRow",
    "NoticeSettings",
    "PassStats",
    "PlanStats",
    "SmtpWebhookTransport",
    "Transport",
    "add_hold",
    "build_digests",
    "build_email",
    "default_attributor",
    "deliver_due",
    "list_holds",
    "log_pass",
    "make_on_sent",
    "notify_loop",
    "notify_pass",
    "plan_notices",
    "release_hold",
    "requeue_failed",
    "schedule_rounds",
    "validation_errors",
]
