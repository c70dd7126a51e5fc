"""Builders for takedown tests: synthetic detections (labels only, no imagery) and a loopback
SMTP sink that counts what providers would receive."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from orbweaver.attribution.types import Attribution, ChainLink
from orbweaver.net import NetworkPolicy
from orbweaver.store.models import Bank, BankEntry, Detection, Media, Provider, Sighting


def world_policy(info: dict[str, Any], **kw: Any) -> NetworkPolicy:
    """The product's network policy against a simulated world: its sites' range only, world
    URLs (which carry no port) mapped to its port."""
    nets = [ipaddress.ip_network(n) for n in info["allow_networks"]]
    return NetworkPolicy(allow_networks=nets, port_map={80: info["http_port"]}, **kw)


def world_services(info: dict[str, Any], **kw: Any) -> NetworkPolicy:
    """`world_policy` plus the world's RDAP server and webhook endpoint, as a deployment allows
    the services it configured itself (the demo does the same)."""
    endpoints = [info["rdap_bootstrap"], *info["webhooks"].values()]
    return world_policy(info, **kw).allowing(*(f"{urlsplit(u).hostname}/32" for u in endpoints))


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n].ljust(n, "0")


def bank(session: Session, now: datetime, threshold: int = 31) -> Bank:
    b = session.scalar(select(Bank).where(Bank.name == "test"))
    if b is None:
        b = Bank(name="test", pdq_threshold=threshold, created_at=now)
        session.add(b)
        session.flush()
    return b


def media(session: Session, now: datetime, seed: str, pdq: str | None = None) -> Media:
    m = Media(
        sha256=_hex(seed, 64),
        sha1=_hex(seed + "1", 40),
        md5=_hex(seed + "5", 32),
        pdq=pdq or _hex(seed + "p", 64),
        pdq_quality=100,
        size_bytes=1000,
        first_seen_at=now,
    )
    session.add(m)
    session.flush()
    return m


def detect(
    session: Session,
    now: datetime,
    url: str,
    *,
    seed: str | None = None,
    m: Media | None = None,
    category: str = "csam_prepubescent",
    archive_url: str | None = None,
    member_path: str | None = None,
    network: str = "clear",
    entry: BankEntry | None = None,
    distance: int = 0,
) -> Detection:
    """A sighting of synthetic media at `url` that matched a (synthetic) bank entry."""
    b = bank(session, now)
    m = m or media(session, now, seed or url)
    if entry is None:
        entry = BankEntry(
            bank_id=b.id, signal_type="sha256", signal=m.sha256, category=category, added_at=now
        )
        session.add(entry)
        session.flush()
    host = url.split("/")[2].split(":")[0]
    s = Sighting(
        media_id=m.id,
        url=url,
        page_url=None,
        host=host,
        network=network,
        archive_url=archive_url,
        member_path=member_path,
        seen_at=now,
    )
    session.add(s)
    session.flush()
    d = Detection(
        sighting_id=s.id,
        bank_entry_id=entry.id,
        signal_type="sha256",
        distance=distance,
        category=category,
        detected_at=now,
    )
    session.add(d)
    session.flush()
    return d


def provider(
    session: Session,
    now: datetime,
    name: str,
    *,
    email: str | None = None,
    webhook: str | None = None,
    service_type: str = "hosting_provider",
) -> Provider:
    p = Provider(
        name=name,
        service_type=service_type,
        abuse_email=email,
        webhook_url=webhook,
        created_at=now,
        updated_at=now,
    )
    session.add(p)
    session.flush()
    return p


@dataclass
class FixedAttributor:
    """Attribution by table, for notice tests that do not need DNS and RDAP."""

    chains: dict[str, list[ChainLink]] = field(default_factory=dict)
    recipient: dict[str, int] = field(default_factory=dict)

    def attribute(self, session: Session, host: str, network: str) -> Attribution:
        chain = self.chains.get(host, [])
        return Attribution(host=host, chain=chain, recipient_id=self.recipient.get(host))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Sink:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


class SmtpSink:
    """aiosmtpd on 127.0.0.1, collecting every message it accepts."""

    def __init__(self) -> None:
        self.handler = _Sink()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def messages(self) -> list[Message]:
        with self.handler.lock:
            return list(self.handler.messages)


def noticed_bytes(
    store: Any,
    now: datetime,
    url: str,
    body: bytes,
    host: str,
    *,
    pdq: str | None = None,
    pdq_quality: int | None = None,
) -> int:
    """A notice already sent for `body` at `url` (one detection in a known bank; the media's
    PDQ when given, for re-checks that compare pictures), ready to be re-checked; returns its
    id."""
    from orbweaver.store.models import Notice, NoticeItem

    with store.session() as s:
        bank(s, now)
        m = Media(
            sha256=hashlib.sha256(body).hexdigest(),
            sha1="0" * 40,
            md5="0" * 32,
            pdq=pdq,
            pdq_quality=pdq_quality,
            size_bytes=len(body),
            first_seen_at=now,
        )
        s.add(m)
        s.flush()
        d = detect(s, now, url, m=m)
        n = Notice(
            url=url,
            kind="media",
            host=host,
            report_id=hashlib.md5(url.encode()).hexdigest()[:32],
            category=d.category,
            status="open",
            created_at=now,
            first_sent_at=now,
            last_sent_at=now,
        )
        s.add(n)
        s.flush()
        s.add(NoticeItem(notice_id=n.id, detection_id=d.id, media_id=m.id, category=d.category))
        return n.id
