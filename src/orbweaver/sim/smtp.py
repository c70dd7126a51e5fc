"""The providers' abuse mailboxes: one SMTP server (aiosmtpd) that accepts mail for every party.

Recipients must be a party's abuse address (`abuse@<party domain>`) or `abuse@<site domain>`
(delivered to the party controlling that site); anything else is refused with 550, as a real MX
would. Each accepted message is kept in the recipient's mailbox and its X-ARF reports are handed
to the behaviour engine, one notice per report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orbweaver.sim.behaviour import Engine
from orbweaver.sim.catalogue import Party
from orbweaver.sim.clock import iso
from orbweaver.sim.notices import reports_from_mail


@dataclass
class Mailboxes:
    """Every message each party received, for tests and the control API."""

    boxes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, address: str, entry: dict[str, Any]) -> None:
        self.boxes.setdefault(address, []).append(entry)


def resolve_mailbox(engine: Engine, address: str) -> Party | None:
    address = address.lower().strip("<>")
    party = engine.cat.mailboxes.get(address)
    if party is not None:
        return party
    local, _, domain = address.partition("@")
    site = engine.cat.sites.get(domain)
    if local == "abuse" and site is not None and not site.onion:
        return site.host
    return None


class AbuseHandler:
    """aiosmtpd handler: validate recipients, then feed each report to the engine."""

    def __init__(self, engine: Engine, mailboxes: Mailboxes) -> None:
        self.engine = engine
        self.mailboxes = mailboxes

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if resolve_mailbox(self.engine, address) is None:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        deliver(self.engine, self.mailboxes, list(envelope.rcpt_tos), raw, str(envelope.mail_from))
        return "250 Message accepted for delivery"


def deliver(
    engine: Engine, mailboxes: Mailboxes, rcpts: list[str], raw: bytes, sender: str
) -> None:
    reports = reports_from_mail(raw)
    for rcpt in rcpts:
        party = resolve_mailbox(engine, rcpt)
        if party is None:
            continue
        outcomes = [
            engine.receive(party, r.url, "smtp", r.report_id, r.type, r.tags).outcome
            for r in reports
        ]
        mailboxes.add(
            rcpt.lower(),
            {
                "received_at": iso(engine.clock.now()),
                "from": sender,
                "reports": len(reports),
                "outcomes": outcomes,
                "raw": raw.decode("utf-8", "replace"),
            },
        )


class Unavailable(asyncio.Protocol):
    """The MX while the sink is down: `refuse` greets 421 and hangs up (RFC 5321 4.2.2: the
    service is not available, try later), `timeout` accepts and never speaks."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.mode == "refuse":
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.3.2 mx.sim.test service not available, try again later\r\n")
            transport.close()

    def data_received(self, data: bytes) -> None:
        pass  # `timeout`: silence until the client gives up


def smtp_factory(
    make: Callable[[], asyncio.BaseProtocol], failing: Callable[[], str | None]
) -> Callable[[], asyncio.BaseProtocol]:
    """A protocol factory that answers as `make` does while the sink is up, as `Unavailable`
    while `failing()` names a mode."""

    def factory() -> asyncio.BaseProtocol:
        mode = failing()
        return Unavailable(mode) if mode else make()

    return factory
