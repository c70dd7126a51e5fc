"""Helpers: synthetic hashes, sharing them, an exchange configured on the service."""

from __future__ import annotations

from datetime import UTC, datetime

from orbweaver.exchanges import ExchangeConfig, ExchangeSettings, build_client
from orbweaver.sim.hashsharing import HashSharing, Server

START = datetime(2026, 1, 1, tzinfo=UTC)


def pdq(i: int) -> str:
    """A synthetic PDQ (no picture behind it): distinct for each i."""
    return f"{i:016x}" * 4


def md5(i: int) -> str:
    return f"{i:032x}"


def share(svc: HashSharing, n: int, *, first: int = 1, at: datetime = START) -> None:
    for i in range(first, first + n):
        svc.add(f"e{i}", {"md5": md5(i), "pdq": pdq(i)}, at=at, classification="A1")


def config(server: Server, **extra: object) -> tuple[ExchangeConfig, ExchangeSettings]:
    cfg = ExchangeConfig(kind="ncmec", bank="ncmec", url=server.url, user="orbweaver", **extra)  # type: ignore[arg-type]
    settings = ExchangeSettings(
        exchange={"ncmec": cfg},
        exchange_credentials={"ncmec": f"orbweaver:{server.service.password}"},
    )
    return cfg, settings


def client(server: Server):  # type: ignore[no-untyped-def]
    cfg, settings = config(server)
    return build_client("ncmec", cfg, settings)
