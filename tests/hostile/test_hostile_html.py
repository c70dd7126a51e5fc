"""Hostile pages through what the spider does with a page (Scrapy's parse, then `extract`): a
bounded, sane set of links or a clear refusal for each; the good page after it is unaffected."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from scrapy.http import HtmlResponse

from orbweaver.crawl.extract import extract

BASE = "http://site.test/dir/page.html"
GOOD = b'<html><body><a href="/next.html">n</a><img src="/a.jpg"></body></html>'


def _page(*parts: str) -> bytes:
    return ("<!doctype html><html><body>" + "".join(parts) + "</body></html>").encode()


CASES: dict[str, Callable[[], bytes]] = {
    "deep-nesting-100000": lambda: _page("<div>" * 100_000 + '<a href="/deep.html">d</a>'),
    "deep-nesting-unclosed-tables": lambda: _page("<table><tr><td>" * 20_000),
    "attribute-10mb": lambda: _page(f'<a href="/x.html" title="{"A" * 10_000_000}">x</a>'),
    "href-1mb": lambda: _page(f'<a href="/{"b" * 1_000_000}.html">x</a>'),
    "links-100000": lambda: _page(*(f'<a href="/p{i}.html">{i}</a>' for i in range(100_000))),
    "images-100000": lambda: _page(*(f'<img src="/i{i}.jpg">' for i in range(100_000))),
    "invalid-utf8-declared-utf8": lambda: (
        b'<meta charset="utf-8"><a href="/\xff\xfe\xc3.html">' + b"\xc3\x28\xa0\xa1" * 1000
    ),
    "bogus-charset": lambda: b'<meta charset="x-no-such-charset"><a href="/a.html">a</a>',
    "utf16-without-bom": lambda: '<a href="/u.html">u</a>'.encode("utf-16-le"),
    "nul-bytes": lambda: b'<a href="/n\x00ul.html">a</a>\x00\x00<img src="\x00">',
    "javascript-and-data-urls": lambda: _page(
        '<a href="javascript:alert(1)">j</a><img src="data:image/png;base64,AAAA">'
        '<a href="vbscript:x">v</a><a href="file:///etc/passwd">f</a>'
    ),
    "bad-ports-and-hosts": lambda: _page(
        '<a href="http://a:99999/">p</a><a href="http://[::1/">v6</a>'
        '<a href="http://%zz/">pct</a><a href="http://xn--/">idn</a><a href="//">e</a>'
    ),
    "hostile-base-href": lambda: b'<base href="javascript:alert(1)//"><a href="x.html">x</a>',
    "css-url-flood": lambda: _page("<style>" + "a{background:url(/c.jpg)}" * 50_000 + "</style>"),
    "srcset-garbage": lambda: _page('<img srcset="' + ", ,," * 100_000 + '">'),
    "binary-garbage": lambda: bytes(range(256)) * 4000,
}


def _links(body: bytes) -> object:
    response = HtmlResponse(BASE, body=body, encoding="utf-8")
    try:
        root = response.selector.root
    except Exception as exc:
        return f"not parsed: {exc}"
    return extract(root, BASE, max_media=5000, max_pages=5000)


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_page_gives_bounded_links_and_the_next_page_is_unaffected(name: str) -> None:
    links = _links(CASES[name]())
    if not isinstance(links, str):
        assert len(links.pages) <= 5000 and len(links.media) <= 5000  # type: ignore[attr-defined]
        for url in [*links.pages, *links.media]:  # type: ignore[attr-defined]
            assert url.startswith(("http://", "https://")), url
            assert "\x00" not in url
    good = _links(GOOD)
    assert not isinstance(good, str)
    assert good.pages == ["http://site.test/next.html"]  # type: ignore[attr-defined]
    assert good.media == ["http://site.test/a.jpg"]  # type: ignore[attr-defined]


def test_the_caps_count_what_they_dropped() -> None:
    links = _links(CASES["links-100000"]())
    assert not isinstance(links, str)
    assert len(links.pages) == 5000 and links.dropped_pages == 95_000  # type: ignore[attr-defined]
