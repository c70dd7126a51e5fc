"""The monitor's re-checks apply the network policy on every redirect hop (issue 21, survivor 5),
asserted by what the forbidden server saw (connections accepted), never by log text.

Only 127.0.0.1/32 is allowed; a noticed URL redirects to a name resolving to 127.0.0.2, to a
name resolving to both addresses, or to 127.0.0.2 itself. The re-check is a miss that names the
refusal, and nothing ever connects to 127.0.0.2. A redirect to an allowed name is followed (so
the refusal is the address check's, not redirects refused wholesale).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from crawl.loopback import LoopbackDNS, LoopbackHTTP, redirect
from orbweaver.clock import SettableClock
from orbweaver.monitor import MonitorSettings, check_due
from orbweaver.net import GuardedFetcher, NetworkPolicy, Resolver
from orbweaver.store import Store
from orbweaver.store.models import Check
from takedown.helpers import noticed_bytes

BODY = b"synthetic noticed bytes"
SETTINGS = MonitorSettings(recheck_schedule_hours=[1], recheck_every_hours=24)


@pytest.fixture
def site() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP("127.0.0.1")
    yield server
    server.stop()


@pytest.fixture
def internal() -> Iterator[LoopbackHTTP]:
    """Outside the allowed range: nothing may ever connect to it."""
    server = LoopbackHTTP("127.0.0.2")
    server.add("/secret", BODY, content_type="image/jpeg")
    yield server
    server.stop()


@pytest.fixture
def dns() -> Iterator[LoopbackDNS]:
    server = LoopbackDNS(
        {
            "site.test": ["127.0.0.1"],
            "evil.test": ["127.0.0.2"],
            "mixed.test": ["127.0.0.1", "127.0.0.2"],
        }
    )
    yield server
    server.stop()


def _noticed(store: Store, clock: SettableClock, url: str) -> int:
    return noticed_bytes(store, clock.now(), url, BODY, host="site.test")


def _recheck(store: Store, clock: SettableClock, dns: LoopbackDNS, nid: int) -> Check:
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=5)
    fetcher = GuardedFetcher(policy, Resolver([dns.server], cache_ttl=0))
    try:
        clock.advance(timedelta(hours=1, minutes=1))
        check_due(store, clock, fetcher, SETTINGS)
    finally:
        fetcher.close()
    with store.session() as s:
        check = s.scalars(select(Check).where(Check.notice_id == nid)).one()
        s.expunge(check)
        return check


@pytest.mark.parametrize("to", ["evil.test", "mixed.test", "127.0.0.2"])
def test_a_recheck_redirected_to_a_refused_address_never_connects(
    store: Store,
    clock: SettableClock,
    site: LoopbackHTTP,
    internal: LoopbackHTTP,
    dns: LoopbackDNS,
    to: str,
) -> None:
    site.add("/r", handler=redirect(f"http://{to}:{internal.port}/secret"))
    nid = _noticed(store, clock, site.url("/r", host="site.test"))
    check = _recheck(store, clock, dns, nid)
    assert site.hits == {"/r": 1}  # the allowed first hop was fetched
    assert internal.connections == 0 and internal.hits == {}
    assert check.outcome == "offline" and check.sha256 is None and check.http_status is None
    assert "127.0.0.2" in check.detail


def test_a_recheck_follows_a_redirect_to_an_allowed_name(
    store: Store, clock: SettableClock, site: LoopbackHTTP, dns: LoopbackDNS
) -> None:
    site.add("/moved", BODY, content_type="image/jpeg")
    site.add("/r", handler=redirect(f"http://site.test:{site.port}/moved"))
    nid = _noticed(store, clock, site.url("/r", host="site.test"))
    check = _recheck(store, clock, dns, nid)
    assert site.hits == {"/r": 1, "/moved": 1}
    assert check.outcome == "online" and check.sha256 == hashlib.sha256(BODY).hexdigest()
