"""The network policy's decisions, with no socket: addresses, routes, pins, redirects, caps."""

from __future__ import annotations

import ipaddress

import pytest

from orbweaver.net import KINDS, NetworkPolicy, PolicyError, parse_port_map, parse_server

LOOPBACK_ONLY = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")])
LOOPBACK_V6 = ipaddress.ip_network("::1/128")


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "127.0.0.2",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:127.0.0.2",
        "2002:0a00:0001::1",
        "::",
        "255.255.255.255",
    ],
)
def test_policy_refuses_non_public_addresses(address: str) -> None:
    reason = LOOPBACK_ONLY.address_refusal(address)
    assert reason is not None and "outside ORBWEAVER_CRAWL_ALLOW_NETWORKS" in reason


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::ffff:127.0.0.1", "93.184.216.34", "2606:4700::1"]
)
def test_policy_allows_public_and_allowed(address: str) -> None:
    assert LOOPBACK_ONLY.address_refusal(address) is None


def test_policy_routes() -> None:
    policy = NetworkPolicy(tor_proxy="127.1.0.4:9000")
    assert policy.route("http://abc.onion/x") == ("tor", "http://127.1.0.4:9000")
    assert policy.route("https://example.org/") == ("clear", None)
    with pytest.raises(PolicyError, match="scheme"):
        policy.route("ftp://example.org/")
    with pytest.raises(PolicyError, match=r"private|link-local"):
        policy.route("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(PolicyError, match="needs ORBWEAVER_TOR_PROXY"):
        NetworkPolicy().route("http://abc.onion/")
    with pytest.raises(PolicyError):
        policy.route("http://[::ffff:10.1.2.3]/")
    assert parse_port_map("80=4000, 443=4001") == {80: 4000, 443: 4001}
    assert parse_server("127.1.0.53:5353").port == 5353


def test_the_tor_proxy_host_is_never_a_clear_web_host() -> None:
    """Issue 14: with the proxy given by name, that name was trusted for every crawled URL
    (`http://localhost:9051/` went through the guard). It is trusted for the proxy only."""
    policy = NetworkPolicy(tor_proxy="localhost:9050")
    for url in ("http://localhost:9051/", "http://LOCALHOST.:9050/x", "https://localhost/"):
        with pytest.raises(PolicyError, match="Tor proxy's host"):
            policy.target(url)
    assert policy.is_proxy_host("Localhost.") and not policy.is_proxy_host("localhost2")
    assert policy.route("http://abc.onion/") == ("tor", "http://localhost:9050")
    by_address = NetworkPolicy(tor_proxy="http://[::1]:8118", allow_networks=[LOOPBACK_V6])
    with pytest.raises(PolicyError, match="Tor proxy's host"):
        by_address.target("http://[::1]:8118/")
    assert by_address.pinned_proxy_url("::1") == "http://[::1]:8118"
    assert policy.pinned_proxy_url("127.0.0.1") == "http://127.0.0.1:9050"
    assert not NetworkPolicy().is_proxy_host("")


def test_a_target_keeps_what_the_request_carries() -> None:
    t = LOOPBACK_ONLY.target("https://user:pw@Example.ORG.:8443/a/b?q=1#frag")
    assert (t.network, t.proxy, t.scheme, t.host, t.port) == (
        "clear",
        None,
        "https",
        "example.org",
        8443,
    )
    assert t.netloc == "Example.ORG.:8443" and t.path == "/a/b?q=1"
    assert LOOPBACK_ONLY.target("http://example.org").path == "/"
    assert LOOPBACK_ONLY.target("http://example.org?x").path == "/?x"
    for bad, reason in (
        ("http://example.org:99999/", "malformed"),
        ("http:///nohost", "no host"),
        ("file:///etc/passwd", "scheme"),
        ("http://127.0.0.2/", "outside ORBWEAVER_CRAWL_ALLOW_NETWORKS"),
    ):
        with pytest.raises(PolicyError, match=reason):
            LOOPBACK_ONLY.target(bad)


def test_a_pin_checks_every_address_and_connects_to_the_first() -> None:
    policy = NetworkPolicy(
        allow_networks=[ipaddress.ip_network("127.0.0.0/30")], port_map={80: 8080}
    )
    pin = policy.pin(policy.target("http://site.test/p?q"), ["127.0.0.2", "127.0.0.1"])
    assert (pin.address, pin.port, pin.url) == ("127.0.0.2", 8080, "http://127.0.0.2:8080/p?q")
    assert pin.headers == {"Host": "site.test"} and pin.sni_hostname is None
    tls = policy.pin(policy.target("https://site.test/"), ["127.0.0.1"])
    assert tls.url == "https://127.0.0.1/" and tls.sni_hostname == "site.test"
    assert tls.headers == {"Host": "site.test"}
    # one refused address is enough, wherever it is in the answer
    for answer in (["127.0.0.1", "127.0.0.9"], ["10.0.0.1", "127.0.0.1"], []):
        with pytest.raises(PolicyError, match=r"site\.test resolves to"):
            policy.pin(policy.target("http://site.test/"), answer)
    public = NetworkPolicy()
    v6 = public.pin(public.target("http://[2606:4700::1]:81/"), ["2606:4700::1"])
    assert v6.url == "http://[2606:4700::1]:81/" and v6.headers == {"Host": "[2606:4700::1]:81"}
    with pytest.raises(PolicyError, match="not pinned"):
        onion = NetworkPolicy(tor_proxy="127.0.0.1:9050")
        onion.pin(onion.target("http://abc.onion/"), ["127.0.0.1"])


def test_redirects_are_limited_and_resolved_against_the_hop() -> None:
    policy = NetworkPolicy(max_redirects=2)
    assert policy.redirect("http://a.test/x/y", "../z", 0) == "http://a.test/z"
    assert policy.redirect("http://a.test/x", "https://b.test/", 1) == "https://b.test/"
    with pytest.raises(PolicyError, match="too many redirects"):
        policy.redirect("http://a.test/", "/again", 2)


def test_caps_by_kind_and_ranges_added_for_configured_services() -> None:
    policy = NetworkPolicy(page_max_bytes=1, media_max_bytes=2, archive_max_bytes=3)
    assert [policy.max_bytes(k) for k in (*KINDS, "other")] == [1, 2, 3, 1]
    more = LOOPBACK_ONLY.allowing("127.1.0.2/32")
    assert more.address_refusal("127.1.0.2") is None
    assert LOOPBACK_ONLY.address_refusal("127.1.0.2") is not None  # the original is unchanged
    assert more.address_refusal("127.1.0.3") is not None
