"""Fuzz targets: every parser orbweaver owns or wraps, fed arbitrary bytes.

Each target takes the fuzzer's bytes and runs one parser the way the product does, catching
only the errors that parser documents (a clear per-input refusal). Anything else escaping is a
crash: atheris reports it with the input, and the input becomes a regression test
(`tests/fuzz/corpus/<target>/`, replayed by `test_fuzz_corpus.py` in `make test`).

`make fuzz` runs each target for FUZZ_SECONDS under atheris (`run_fuzz.py`).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import tomllib
from collections.abc import Callable
from typing import Any

Target = Callable[[bytes], None]


def extract_links(data: bytes) -> None:
    """A page body through Scrapy's parser and the crawl's link extraction."""
    from scrapy.http import HtmlResponse

    from orbweaver.crawl.extract import extract

    response = HtmlResponse("http://fuzz.test/dir/page.html", body=data, encoding="utf-8")
    try:
        root = response.selector.root
    except Exception:
        return
    links = extract(root, response.url, max_media=100, max_pages=100)
    for url in [*links.pages, *links.media, *(u for u, _ in links.archives)]:
        assert url.startswith(("http://", "https://")), url


def normalise_url(data: bytes) -> None:
    """URL normalisation: an http(s) URL or None, and normalising its result changes nothing."""
    from orbweaver.crawl.extract import normalise

    text = data.decode("utf-8", "surrogateescape")
    base, _, raw = text.partition("\n")
    base = base if base.startswith(("http://", "https://")) else "http://fuzz.test/a/b.html"
    url = normalise(base, raw)
    if url is not None:
        assert url.startswith(("http://", "https://")), url
        assert normalise(base, url) == url, (url, normalise(base, url))


def sniff(data: bytes) -> None:
    """Content sniffing: the crawl's kind and the signals' MIME type, never an exception."""
    from orbweaver.crawl.sniff import sniff as crawl_sniff
    from orbweaver.signals.sniff import sniff_mime

    kind, mime = crawl_sniff(data)
    assert kind in ("media", "archive", "page", "other") and mime
    sniff_mime(data)


def archive(data: bytes) -> None:
    """Archive listing and reading (zip, 7z, RAR through libarchive and unar)."""
    from orbweaver.signals import ArchiveError, ArchiveLimits, unpack

    limits = ArchiveLimits(
        max_members=200, max_total_bytes=8 << 20, max_member_bytes=4 << 20, tool_timeout_s=10
    )
    for magic in (b"", b"PK\x03\x04", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07\x00"):
        with contextlib.suppress(ArchiveError):
            unpack(magic + data, passwords=["pw"], limits=limits)


def image_pdq(data: bytes) -> None:
    """Image decoding and PDQ, and the header probe the console renders through."""
    from orbweaver.signals import SignalError, compute_signals, probe_image

    for candidate in (data, b"\x89PNG\r\n\x1a\n" + data, b"\xff\xd8\xff" + data, b"GIF89a" + data):
        try:
            signals = compute_signals(candidate, max_pixels=4_000_000)
        except SignalError:
            continue
        assert signals.sha256 is not None
        with contextlib.suppress(SignalError):
            probe_image(candidate, max_pixels=4_000_000)


class _OfflineRdap:
    """An RDAP client whose answers are the fuzzer's bytes (no network)."""

    def __init__(self, answer: bytes) -> None:
        from orbweaver.attribution.rdap import Bootstrap, RdapClient

        self.answer = answer
        client = RdapClient("http://rdap.test/", None)  # type: ignore[arg-type]
        client._boot = Bootstrap(
            ipv4=[(ipaddress.ip_network("0.0.0.0/0"), ["http://rdap.test/"])],
            asn=[],
            dns={"test": ["http://rdap.test/"]},
        )
        client._get = self._get  # type: ignore[method-assign]
        self.client = client

    def _get(self, url: str) -> dict[str, Any]:
        from orbweaver.attribution.rdap import RdapError

        try:
            data = json.loads(self.answer)
        except (ValueError, RecursionError) as exc:
            raise RdapError("not JSON") from exc
        if not isinstance(data, dict):
            raise RdapError("not a JSON object")
        return data


def rdap(data: bytes) -> None:
    """RDAP answers (IP network and domain) through whoisit and our reading of them."""
    from orbweaver.attribution.rdap import RdapError

    client = _offline_rdap(data)
    for lookup in (lambda: client.ip("192.0.2.1"), lambda: client.domain("fuzz.test")):
        try:
            found = lookup()
        except RdapError:
            continue
        for entity in _entities(found):
            assert entity.name.isprintable() and len(entity.name) <= 200


_RDAP: list[_OfflineRdap] = []


def _offline_rdap(answer: bytes) -> Any:
    """One client for every input (building whoisit's bootstrap wrapper costs ~0.3 s)."""
    if not _RDAP:
        _RDAP.append(_OfflineRdap(answer))
    _RDAP[0].answer = answer
    return _RDAP[0].client


def _entities(found: Any) -> list[Any]:
    out = [getattr(found, k, None) for k in ("owner", "registrar", "registrant")]
    return [e for e in out if e is not None]


def bank_csv(data: bytes) -> None:
    """A bank CSV import's parsing (the CLI reads files as UTF-8 with replacement)."""
    from orbweaver.banks import BankError
    from orbweaver.banks.service import ImportReport, parse_csv

    text = data.decode("utf-8", "replace")
    report = ImportReport()
    try:
        rows = list(parse_csv(io.StringIO(text, newline=""), report))
    except BankError:
        return
    for row in rows:
        assert row.signal_type and row.signal and row.category


def settings_toml(data: bytes) -> None:
    """A settings file: TOML, the stage tables flattened, every stage's settings validated."""
    import pydantic

    from orbweaver.config import ConfigError, field_sections, flatten_toml, settings_classes

    try:
        parsed = tomllib.loads(data.decode("utf-8", "replace"))
        values = flatten_toml(parsed, field_sections(), "fuzz.toml")
    except (tomllib.TOMLDecodeError, ConfigError):
        return
    for cls in settings_classes():
        own = {k: v for k, v in values.items() if k in cls.model_fields}
        with contextlib.suppress(pydantic.ValidationError):
            cls.model_validate(own)


TARGETS: dict[str, Target] = {
    "extract_links": extract_links,
    "normalise_url": normalise_url,
    "sniff": sniff,
    "archive": archive,
    "image_pdq": image_pdq,
    "rdap": rdap,
    "bank_csv": bank_csv,
    "settings_toml": settings_toml,
}
