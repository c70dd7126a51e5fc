"""The world: builds the catalogue, binds every server on loopback and runs them in one thread.

    with World.start("scenarios/small.toml", scale=1.0, seed=7) as world:
        world.info                    # the world.json dictionary (addresses, seeds, hash list)
        world.clock.advance(timedelta(days=30))
        world.truth()                 # ground truth, the product's report shape

All servers share one asyncio event loop in a daemon thread; the caller's thread stays free to
drive the product. Every address is checked against 127.0.0.0/8 before any socket is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import errno
import functools
import hashlib
import json
import os
import resource
import socket
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from orbweaver.sim import catalogue as catalogue_mod
from orbweaver.sim import hashsharing as hashsharing_mod
from orbweaver.sim import media, net
from orbweaver.sim import scenario as scenario_mod
from orbweaver.sim import truth as truth_mod
from orbweaver.sim.behaviour import Engine, Notice
from orbweaver.sim.catalogue import Site
from orbweaver.sim.clock import WorldClock, iso
from orbweaver.sim.control import Control, Webhooks
from orbweaver.sim.dns import UdpServer, Zone, serve_tcp
from orbweaver.sim.faults import Faults
from orbweaver.sim.http import Handler, Request, Response, not_found, serve_connection
from orbweaver.sim.rdap import Rdap
from orbweaver.sim.smtp import AbuseHandler, Mailboxes, smtp_factory
from orbweaver.sim.tor import TorGateway
from orbweaver.sim.web import MediaStore, Sites

BIND_ATTEMPTS = 20


class World:
    """One running simulated internet. Use `World.start(...)` (a context manager)."""

    def __init__(
        self,
        scenario: scenario_mod.Scenario | str | Path,
        scale: float = 1.0,
        seed: int = 1,
        port: int | None = None,
        workdir: str | Path | None = None,
        speed: float = 0.0,
        addresses: dict[str, str] | None = None,
        cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.addresses = {**net.INFRA, **(addresses or {})}
        for host in self.addresses.values():
            net.require_loopback(host)  # before anything else happens
        self.scenario = (
            scenario if isinstance(scenario, scenario_mod.Scenario) else scenario_mod.load(scenario)
        )
        self.scale, self.seed, self.requested_port = scale, seed, port
        self.catalogue, builder = catalogue_mod.build(self.scenario, scale, seed)
        for addr in self.catalogue.by_ip:
            net.require_loopback(addr)
        self.clock = WorldClock(self.scenario.world.start, speed)
        self.faults = Faults(self.clock)
        self.engine = Engine(self.catalogue, builder, self.clock, seed)
        self.media = MediaStore(self.engine, cache_bytes)
        self.mailboxes = Mailboxes()
        self.sites = Sites(self.engine, self.media)
        self.tor = TorGateway(self.catalogue, self.serve_site)
        self.hashsharing = hashsharing_mod.HashSharing(password=f"sim-{seed}-hashsharing")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="orbweaver-sim-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.info: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[Any] = []

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        scenario: scenario_mod.Scenario | str | Path,
        scale: float = 1.0,
        seed: int = 1,
        **kwargs: Any,
    ) -> World:
        world = cls(scenario, scale, seed, **kwargs)
        world.run_in_background()
        return world

    def __enter__(self) -> World:
        if self._thread is None:
            self.run_in_background()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_in_background(self) -> None:
        csv_path = self.write_known_hashes()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="orbweaver-sim", daemon=True
        )
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._bind_all(), self._loop)
        try:
            self.port = future.result(timeout=60)
        except BaseException:
            self.stop()
            raise
        self.info = self._info(csv_path)

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            loop.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- binding -----------------------------------------------------------------------------

    def tcp_handlers(self) -> dict[str, Handler]:
        """Which handler answers on which address (sites, CDN edges, infrastructure)."""
        control, webhooks = Control(self), Webhooks(self)
        rdap = Rdap(self.catalogue, "")
        self._rdap = rdap
        handlers: dict[str, Handler] = {
            self.addresses["control"]: control.handle,
            self.addresses["hashsharing"]: self.hashsharing.handle,
            self.addresses["rdap"]: rdap.handle,
            self.addresses["tor"]: self.tor.handle,
            self.addresses["webhooks"]: webhooks.handle,
        }
        for addr in self.catalogue.by_ip:
            handlers[addr] = self.on_site_address
        return handlers

    async def _bind_all(self) -> int:
        handlers = self.tcp_handlers()
        for _ in range(BIND_ATTEMPTS):
            port = self.requested_port or net.free_port(self.addresses["control"])
            try:
                socks = self._sockets(handlers, port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or self.requested_port:
                    raise
                continue
            await self._serve(handlers, socks, port)
            return port
        raise OSError(errno.EADDRINUSE, "no common free port for the world's addresses")

    def _sockets(self, handlers: dict[str, Handler], port: int) -> dict[str, socket.socket]:
        socks: dict[str, socket.socket] = {}
        try:
            for addr in [*handlers, self.addresses["smtp"], self.addresses["dns"]]:
                socks[addr] = net.tcp_socket(addr, port)
            socks["udp"] = net.udp_socket(self.addresses["dns"], port)
        except OSError:
            for s in socks.values():
                s.close()
            raise
        return socks

    async def _serve(
        self, handlers: dict[str, Handler], socks: dict[str, socket.socket], port: int
    ) -> None:
        from aiosmtpd.smtp import SMTP

        loop = asyncio.get_running_loop()
        self._rdap.base = f"http://{self.addresses['rdap']}:{port}/rdap/"
        for addr, handler in handlers.items():
            self._servers.append(
                await asyncio.start_server(
                    functools.partial(serve_connection, handler=handler),
                    sock=socks[addr],
                    limit=net_limit(),
                )
            )
        zone = Zone(self.catalogue)
        self._zone = zone
        self._servers.append(
            await asyncio.start_server(
                lambda r, w: serve_tcp(zone, r, w, self._dns_failing),
                sock=socks[self.addresses["dns"]],
            )
        )
        self._dns = UdpServer(zone, self._dns_failing)
        transport, _ = await loop.create_datagram_endpoint(lambda: self._dns, sock=socks["udp"])
        self._servers.append(transport)
        abuse = AbuseHandler(self.engine, self.mailboxes)
        self._servers.append(
            await loop.create_server(
                smtp_factory(
                    lambda: SMTP(abuse, hostname="mx.sim.test", data_size_limit=16 * 1024 * 1024),
                    lambda: self.faults.failing("smtp"),
                ),
                sock=socks[self.addresses["smtp"]],
            )
        )

    def _dns_failing(self) -> str | None:
        return self.faults.failing("dns")

    async def _close_all(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            if isinstance(server, asyncio.AbstractServer):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(server.wait_closed(), 2)
        self._servers.clear()
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:  # open keep-alive connections, trickling streams
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- serving -----------------------------------------------------------------------------

    async def on_site_address(self, req: Request) -> Response:
        """A site address: virtual hosts by Host header; CDN edges answer for fronted sites."""
        sites = self.catalogue.by_ip.get(req.local_ip, [])
        site = self.catalogue.sites.get(req.host)
        if site is None or site not in sites:
            if req.host != req.local_ip or not sites:
                return not_found()
            site = sites[0]  # the default virtual host, for requests by bare IP
        resp = await self.serve_site(req, site)
        if site.cdn is not None and req.local_ip == site.ip:
            resp.headers += [
                ("Server", f"{site.cdn.slug}-edge"),
                ("X-Sim-CDN", site.cdn.slug),
                ("Via", f"1.1 {site.cdn.slug}-edge"),
            ]
        return resp

    async def serve_site(self, req: Request, site: Site) -> Response:
        return await self.sites.handle(req, site)

    # -- the product's view ------------------------------------------------------------------

    def write_known_hashes(self) -> Path:
        """The initial hash list (a hotline's own list): sha256, md5 and pdq of known images,
        as a file, and shared on the world's hash-sharing service (NCMEC's shape), one entry a
        picture, a day before the world's start (a list the hotline finds there on day one)."""
        known = [im for im in self.catalogue.images if im.label == "known"]
        rows = known_hash_rows(known, self.media)
        self.hashsharing.add_many(
            hashsharing_mod.world_entries(rows, group=3),
            at=self.scenario.world.start - timedelta(days=1),
        )
        path = self.workdir / "known_hashes.csv"
        with path.open("w", newline="") as f:  # a vPDQ holds commas and quotes: csv quotes it
            out = csv.writer(f, lineterminator="\n")
            out.writerow(["signal_type", "signal", "category", "source"])
            out.writerows([t, v, c, "orbweaver-sim"] for t, v, c in rows)
        return path

    def _info(self, csv_path: Path) -> dict[str, Any]:
        a, p = self.addresses, self.port
        hooks = f"http://{a['webhooks']}:{p}/hooks/"
        clear = [f"http://{s.domain}/" for s in self.catalogue.sites.values() if not s.onion]
        onion = [f"http://{s.domain}/" for s in self.catalogue.sites.values() if s.onion]
        return {
            "name": self.scenario.world.name,
            "seed": self.seed,
            "scale": self.scale,
            "start": iso(self.scenario.world.start),
            "dns": f"{a['dns']}:{p}",
            "rdap_bootstrap": f"http://{a['rdap']}:{p}/bootstrap/",
            "rdap": f"http://{a['rdap']}:{p}/rdap/",
            "tor_proxy": f"http://{a['tor']}:{p}",
            "smtp": f"{a['smtp']}:{p}",
            "webhooks": {
                party.abuse_email: f"{hooks}{party.slug}"
                for party in self.catalogue.parties
                if party.notice_channel == "webhook"
            },
            "clock": f"http://{a['control']}:{p}/clock",
            "control": f"http://{a['control']}:{p}/control",
            "seeds": clear + onion,
            "seeds_clear": clear,
            "seeds_onion": onion,
            "known_hashes_csv": str(csv_path),
            "hashsharing": {
                "url": f"http://{a['hashsharing']}:{p}/hashsharing",
                "user": self.hashsharing.user,
                "password": self.hashsharing.password,
            },
            "allow_networks": list(net.ALLOW_NETWORKS),
            "http_port": p,
            "providers": [party_info(party, hooks) for party in self.catalogue.parties],
        }

    def write_info(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.info, indent=2) + "\n")
        return path

    # -- drivers -----------------------------------------------------------------------------

    def truth(self, images: bool = True, now: datetime | None = None) -> dict[str, Any]:
        return truth_mod.export(self.engine, now, images)

    def notify(
        self, provider: str, url: str, tags: tuple[str, ...] = (), report_id: str = ""
    ) -> Notice:
        """Deliver a notice without the network (for drivers that only test behaviour)."""
        return self.engine.receive(
            self.catalogue.party(provider), url, "direct", report_id, "csam", tags
        )

    def stats(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "now": iso(now),
            "http_requests": self.sites.requests,
            "tor_requests": self.tor.requests,
            "dns_queries": getattr(getattr(self, "_dns", None), "queries", 0),
            "notices": len(self.engine.ledger.notices),
            "items": len(self.catalogue.items),
            "items_online": sum(i.online(now) for i in self.catalogue.items),
            "images": len(self.catalogue.images),
            "sites": len(self.catalogue.sites),
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def net_limit() -> int:
    return 64 * 1024


def party_info(party: catalogue_mod.Party, hooks: str) -> dict[str, Any]:
    return {
        "name": party.name,
        "slug": party.slug,
        "service_type": party.service_type,
        "domain": party.domain,
        "abuse_email": party.abuse_email,
        "asn": party.asn,
        "country": party.country,
        "network": str(party.network),
        "notice_channel": party.notice_channel,
        "webhook": f"{hooks}{party.slug}" if party.notice_channel == "webhook" else None,
        "sites": [s.domain for s in party.sites],
    }


def known_hash_rows(
    known: list[catalogue_mod.Image], store: MediaStore
) -> list[tuple[str, str, str]]:
    """(signal_type, signal, category) rows: sha256, md5 and pdq (vpdq for a video) of each
    known original."""
    prints = fingerprint_cache([im.picture for im in known])
    rows = []
    for im in known:
        sha, md5, near = prints[im.picture]
        store.sha_to_image[sha] = im.id
        category = im.category or "harmful_abusive"
        kind = "vpdq" if im.picture.is_video else "pdq"
        rows += [("sha256", sha, category), ("md5", md5, category), (kind, near, category)]
    return rows


def fingerprint_cache(pictures: list[media.Picture]) -> dict[media.Picture, tuple[str, str, str]]:
    """Fingerprints are a pure function of the picture, so they are cached on disk across runs."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "orbweaver-sim"
    key = hashlib.sha256(f"{media.RENDER_VERSION}{pictures!r}".encode()).hexdigest()[:24]
    path = root / f"fingerprints-{key}.json"
    if path.exists():
        with contextlib.suppress(ValueError, OSError):
            stored = json.loads(path.read_text())
            if len(stored) == len(pictures):
                return {p: tuple(h) for p, h in zip(pictures, stored, strict=True)}
    prints = compute_fingerprints(pictures)
    with contextlib.suppress(OSError):
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(prints))
    return dict(zip(pictures, prints, strict=True))


def compute_fingerprints(pictures: list[media.Picture]) -> list[tuple[str, str, str]]:
    """On every core when it is safe to fork (no other thread running), else in this thread."""
    workers = min(4, os.cpu_count() or 1)
    if len(pictures) < 64 or workers < 2 or threading.active_count() > 1:
        return [media.fingerprints(p) for p in pictures]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(media.fingerprints, pictures, chunksize=32))
