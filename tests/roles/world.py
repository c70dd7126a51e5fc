"""Small worlds for the roles' tests: synthetic detections (labels only, no imagery) on hosts
whose attribution is already in the store, so a role built from settings (DNS, RDAP) finds
its recipient without asking any server."""

from __future__ import annotations

import os
import socket
import sys
import threading
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from orbweaver.attribution.types import ChainLink
from orbweaver.clock import Clock
from orbweaver.store import Store
from orbweaver.store.models import AttributionCache
from takedown.helpers import FixedAttributor, detect, free_port, provider


def notices_world(store: Store, clock: Clock, hosts: list[str]) -> FixedAttributor:
    """One provider, one detection and a fresh attribution per host; returns the same chains
    as a `FixedAttributor` for in-process passes."""
    now = clock.now().replace(tzinfo=None)
    chains, recipient = {}, {}
    with store.session() as s:
        for i, host in enumerate(hosts):
            p = provider(s, now, f"Host {i}", email=f"abuse@h{i}.test")
            detect(s, now, f"http://{host}/a.jpg", seed=host)
            link = ChainLink("hosting_provider", p.id, p.name, p.abuse_email)
            chains[host] = [link]
            recipient[host] = p.id
            s.add(
                AttributionCache(
                    host=host,
                    resolved_at=now,
                    expires_at=now + timedelta(days=3650),
                    addresses=["192.0.2.1"],
                    chain=[link.as_dict()],
                    recipient_provider_id=p.id,
                    tor_only=False,
                    error=None,
                )
            )
    return FixedAttributor(chains, recipient)


def utcnow_naive() -> datetime:
    from datetime import UTC

    return datetime.now(UTC).replace(tzinfo=None)


class _Handler:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.stall_next = False
        self.stalled = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        if self.stall_next:
            self.stall_next = False
            self.stalled.set()
            while not self.release.is_set():  # the client waits for our answer meanwhile
                await asyncio.sleep(0.02)
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


class StallingSink:
    """An SMTP sink on loopback that can hold one message's DATA unanswered: the sender is
    then inside the exchange, the one moment a delivery is in doubt."""

    def __init__(self) -> None:
        self.handler = _Handler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> StallingSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.handler.release.set()
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def messages(self) -> list[Message]:
        with self.handler.lock:
            return list(self.handler.messages)

    def stall_next(self) -> None:
        self.handler.stall_next = True


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback ports (bound together, so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def role_env(database_url: str, data_dir: str, **settings: object) -> dict[str, str]:
    """A clean environment for `orbweaver run`: no ORBWEAVER_* of the caller's, fresh ports
    for every role, the given settings (`name=value`, as ORBWEAVER_NAME)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(proxy, None)
    ports = free_ports(6)
    names = (
        "supervisor_health_port",
        "crawl_health_port",
        "notify_health_port",
        "monitor_health_port",
        "review_sync_health_port",
        "serve_port",
    )
    values: dict[str, object] = dict(zip(names, ports, strict=True))
    values.update(
        database_url=database_url,
        data_dir=data_dir,
        redis_url="",
        restart_backoff_s=0.2,
        restart_backoff_max_s=1.0,
        crawl_hash_processes=0,
    )
    values.update(settings)
    env.update({f"ORBWEAVER_{k.upper()}": str(v) for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "orbweaver.cli", *args]
