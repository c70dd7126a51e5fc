"""Small worlds for the roles' tests, and `orbweaver run` in a subprocess: synthetic
detections (labels only, no imagery) on hosts whose attribution is already in the store, so a
role built from settings (DNS, RDAP) finds its recipient without asking any server; an SMTP
sink that can hold a message unanswered; a clean environment with free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
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


def synthetic_png(seed: int, size: int = 96) -> bytes:
    """A benign generated picture: a gradient and a disc, different per seed."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    for y in range(size):
        draw.line([(0, y), (size, y)], fill=((seed * 37 + y) % 256, (seed * 91) % 256, y * 2))
    x = (seed * 29) % (size - 24)
    draw.ellipse([x, 20, x + 24, 44], fill=(255 - seed * 40 % 256, 40, 200))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


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
    names = (
        "supervisor_health_port",
        "crawl_health_port",
        "notify_health_port",
        "monitor_health_port",
        "review_sync_health_port",
        "exchanges_health_port",
        "serve_port",
    )
    ports = free_ports(len(names))
    values: dict[str, object] = dict(zip(names, ports, strict=True))
    values.update(
        database_url=database_url,
        data_dir=data_dir,
        redis_url="",
        restart_backoff_s=0.2,
        restart_backoff_max_s=1.0,
        crawl_hash_processes=0,
        # these worlds' hosts (h0.test...) do not resolve: the re-check before a first notice
        # (issue 19, tested in tests/takedown/test_casework_world.py) would wait them out
        precheck_enabled="false",
    )
    values.update(settings)
    env.update({f"ORBWEAVER_{k.upper()}": str(v) for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "orbweaver.cli", *args]


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with OPENER.open(url, timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Service:
    """`orbweaver run` in a subprocess, its log collected."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.env = env
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            cli("run", *args),
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        out = self.proc.stdout
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(iter(out.readline, "")), daemon=True
        )
        self.reader.start()

    def port(self, name: str) -> int:
        return int(self.env[f"ORBWEAVER_{name.upper()}"])

    def url(self, setting: str, path: str) -> str:
        return f"http://127.0.0.1:{self.port(setting)}{path}"

    def roles(self) -> dict[str, dict[str, Any]]:
        code, body = get(self.url("supervisor_health_port", "/roles"))
        return {r["role"]: r for r in json.loads(body)} if code == 200 else {}

    def log(self) -> str:
        return "".join(self.lines)

    def metric(self, setting: str, name: str) -> float:
        code, body = get(self.url(setting, "/metrics"))
        assert code == 200, body
        for line in body.splitlines():
            if line.startswith(f"{name} ") or line.startswith(f"{name}{{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self, timeout: float = 60) -> tuple[int, float]:
        """SIGTERM, as a container runtime sends it; (exit status, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.reader.join(10)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@contextmanager
def service(env: dict[str, str], cwd: Path, *args: str) -> Iterator[Service]:
    svc = Service(env, cwd, *args)
    try:
        yield svc
    finally:
        svc.kill()
