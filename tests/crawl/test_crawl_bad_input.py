"""Bad input: every case a clear log line, and the crawl goes on (one hostile crawl for all)."""

from __future__ import annotations

import io
import zipfile

import sqlalchemy as sa
from loopback import (
    LoopbackDNS,
    LoopbackHTTP,
    endless,
    html,
    redirect,
    synthetic_jpeg,
    synthetic_png,
    trickle,
)

from orbweaver.store.models import Sighting


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"zeros-{i}.bin", b"\0" * (200 * 1024 * 1024))
    return out.getvalue()


def test_hostile_site(http: LoopbackHTTP, crawler) -> None:
    internal = LoopbackHTTP(host="127.0.0.2")  # outside the allowed 127.0.0.1/32
    dns = LoopbackDNS(
        {
            "evil.test": ["127.0.0.2"],
            "evil-hop.test": ["127.0.0.2"],
            "mixed.test": ["127.0.0.1", "127.0.0.2"],
        }
    )
    p, ip2 = http.port, internal.port
    try:
        internal.add("/secret.png", synthetic_png(99), content_type="image/png")
        good = synthetic_png(1)
        http.add("/good.png", good, content_type="image/png")
        http.add("/loop-a", handler=redirect("/loop-b"))
        http.add("/loop-b", handler=redirect("/loop-a"))
        for i in range(20):
            http.add(f"/chain/{i}", handler=redirect(f"/chain/{i + 1}"))
        http.add("/trickle.jpg", handler=trickle(200, 0.5))
        http.add("/huge-declared.jpg", handler=endless(10 * 1024**3))
        http.add("/huge-chunked.jpg", handler=endless(None))
        http.add("/bomb.zip", zip_bomb(), content_type="application/zip")
        http.add("/truncated.jpg", synthetic_jpeg(5)[:700], content_type="image/jpeg")
        http.add(
            "/malformed.html",
            b"<html><body><div><p><img src='/good2.png'<<<><a href=/x></tr>\x00\x01",
        )
        http.add("/good2.png", synthetic_png(2), content_type="image/png")
        many = "".join(f'<img src="/many/{i}.png">' for i in range(100_000))
        http.add("/many.html", html(many))
        http.add(
            "/utf8.html",
            b"<html><body><a href='/bad\xff\xfe.html'>x</a>"
            b"<img src='/img\xc3\x28.png'></body></html>",
            content_type="text/html; charset=utf-8",
        )
        hop = f"http://127.0.0.2:{ip2}/secret-via-redirect.png"
        http.add("/ssrf-redirect.png", handler=redirect(hop))
        name_hop = f"http://evil-hop.test:{ip2}/secret-via-named-redirect.png"
        http.add("/ssrf-named-redirect.png", handler=redirect(name_hop))
        http.add(
            "/",
            html(
                '<img src="/good.png"><a href="/loop-a">l</a><a href="/chain/0">c</a>',
                '<img src="/trickle.jpg"><img src="/huge-declared.jpg">',
                '<img src="/huge-chunked.jpg"><a href="/bomb.zip">bomb</a>',
                '<img src="/truncated.jpg"><a href="/malformed.html">m</a>',
                '<a href="/many.html">many</a><a href="/utf8.html">u</a>',
                f'<img src="http://127.0.0.2:{ip2}/secret.png">',  # SSRF directly
                '<img src="/ssrf-redirect.png">',  # SSRF through a redirect
                '<img src="/ssrf-named-redirect.png">',  # ... to a name
                f'<img src="http://evil.test:{ip2}/secret.png">',  # SSRF through DNS
                f'<img src="http://mixed.test:{p}/good.png">',  # one bad address is enough
            ),
        )
        run = crawler.run(
            http.url("/"),
            http.url("/%ff%fe/seed"),
            "--timeout",
            "4",
            "--max-media-per-page",
            "50",
            timeout=240,
            ORBWEAVER_DNS_SERVERS=dns.server,
            ORBWEAVER_MAX_IMAGE_BYTES=str(4 * 1024 * 1024),
        )
    finally:
        internal.stop()
        dns.stop()
    log = run.log
    assert run.returncode == 0, run.stderr[-2000:] + log[-3000:]
    # nothing ever reached the address outside the allowed range, on any of the five paths,
    # and each path was really taken (shown by the servers, not by log text): both redirects
    # were fetched from the allowed server, every forbidden name was looked up, and nothing
    # behind a refused address was recorded
    assert internal.connections == 0 and internal.hits == {}
    assert http.hits.get("/ssrf-redirect.png") == 1
    assert {"evil.test", "evil-hop.test", "mixed.test"} <= set(dns.queries)
    assert http.hits.get("/good.png") == 1  # mixed.test: refused, not fetched from its .1
    assert f"policy refused http://127.0.0.2:{ip2}/secret.png" in log
    assert f"policy refused {hop}" in log
    assert "policy refused evil.test: resolves to 127.0.0.2" in log
    assert http.hits.get("/ssrf-named-redirect.png") == 1
    assert "policy refused evil-hop.test: resolves to 127.0.0.2" in log
    assert "policy refused mixed.test: resolves to 127.0.0.2" in log
    assert "max redirections reached" in log or "Filtered duplicate" in log or "loop" in log
    assert "fetch failed" in log and ("TimeoutError" in log or "took longer than" in log)
    assert "larger than download max size" in log or "expected response size" in log
    assert "archive " + http.url("/bomb.zip") + " not unpacked: ArchiveBomb" in log
    assert "recorded by exact hashes only" in log
    assert "links 99950 more media than the per-page cap of 50" in log
    with crawler.store().session() as s:
        urls = set(s.scalars(sa.select(Sighting.url)))
    assert http.url("/good.png") in urls and http.url("/good2.png") in urls
    assert http.url("/truncated.jpg") in urls
    assert not any("127.0.0.2" in u or "evil" in u or "mixed.test" in u for u in urls), urls
    assert http.hits.get("/many/49.png") == 1 and "/many/50.png" not in http.hits


def test_the_tor_proxy_named_by_host_is_trusted_for_the_proxy_connection_only(
    http: LoopbackHTTP, crawler
) -> None:
    """Issue 14: with the proxy given by name, that name was trusted for every crawled URL (a
    page linking `http://localhost:9051/` had it fetched past the guard). The name is trusted
    for the connection to the proxy, and only there: the onion picture comes through the proxy,
    nothing else reaches the proxy's host (outside the allowed 127.0.0.1/32)."""
    proxy = LoopbackHTTP(host="127.0.0.3")
    beside = LoopbackHTTP(host="127.0.0.3")  # another service on the proxy's host
    dns = LoopbackDNS({"proxy.test": ["127.0.0.3"]})
    onion = "http://abcdefghijklmnop.onion/pic.png"
    try:
        proxy.add(onion, synthetic_png(7), content_type="image/png")
        beside.add("/secret.png", synthetic_png(8), content_type="image/png")
        http.add(
            "/",
            html(
                f'<img src="http://proxy.test:{beside.port}/secret.png">',
                f'<img src="http://PROXY.test.:{beside.port}/secret.png?2">',
                f'<img src="http://proxy.test:{proxy.port}/direct.png">',
                f'<img src="{onion}">',
            ),
        )
        run = crawler.run(
            http.url("/"),
            "--timeout",
            "4",
            ORBWEAVER_DNS_SERVERS=dns.server,
            ORBWEAVER_TOR_PROXY=f"proxy.test:{proxy.port}",
        )
    finally:
        proxy.stop()
        beside.stop()
        dns.stop()
    assert run.returncode == 0, run.stderr[-2000:] + run.log[-3000:]
    assert beside.connections == 0 and beside.hits == {}
    assert proxy.hits == {onion: 1}
    assert "proxy.test is the Tor proxy's host" in run.log
    with crawler.store().session() as s:
        seen = {url: net for url, net in s.execute(sa.select(Sighting.url, Sighting.network))}
    assert seen == {onion: "tor"}
