"""The exchanges stage (docs/architecture.md, issue 17): hash lists received from the
services hotlines share them on (NCMEC's hash sharing, StopNCII, Meta's ThreatExchange, a file
in python-threatexchange's format), each fetched incrementally from its stored checkpoint into
its bank, with deletions applied and each entry's source, member and tags recorded; and
analysts' feedback on those entries, sent back where the exchange takes it; and our own
verdicts published to the exchanges that take uploads (`publish_banks`).

One module per kind (`ncmec`, `stopncii`, `fb_threatexchange`, `file`) on python-threatexchange's
clients; `service` stores pages and checkpoints, votes, and runs the role's pass.

Public surface: `ExchangeSettings`, `ExchangeConfig`, `build_client`, `fetch`, `FetchReport`,
`status`, `reset`, `vote`, `send_votes`, `publish`, `queue_submissions`, `send_submissions`,
`exchanges_pass`, `exchanges_loop`, and the errors
`ExchangeError`, `MalformedPage`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.exchanges.base import ExchangeError, MalformedPage
    from orbweaver.exchanges.service import (
        FetchReport,
        build_client,
        exchanges_loop,
        exchanges_pass,
        fetch,
        publish,
        queue_submissions,
        reset,
        send_submissions,
        send_votes,
        status,
        vote,
    )
    from orbweaver.exchanges.settings import ExchangeConfig, ExchangeSettings
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".base": ["ExchangeError", "MalformedPage"],
            ".service": [
                "FetchReport",
                "build_client",
                "exchanges_loop",
                "exchanges_pass",
                "fetch",
                "publish",
                "queue_submissions",
                "reset",
                "send_submissions",
                "send_votes",
                "status",
                "vote",
            ],
            ".settings": ["ExchangeConfig", "ExchangeSettings"],
        },
    )

__all__ = [
    "ExchangeConfig",
    "ExchangeError",
    "ExchangeSettings",
    "FetchReport",
    "MalformedPage",
    "build_client",
    "exchanges_loop",
    "exchanges_pass",
    "fetch",
    "publish",
    "queue_submissions",
    "reset",
    "send_submissions",
    "send_votes",
    "status",
    "vote",
]
