"""A policy built directly agrees with the one the deployment's defaults build (found by mutation
testing: nothing compared them), and URLs without a port go to their scheme's port."""

from __future__ import annotations

import pytest

from orbweaver.config import Settings
from orbweaver.crawl.options import CrawlOptions
from orbweaver.net import NetworkPolicy


def test_the_direct_defaults_are_the_configured_ones() -> None:
    direct, configured = NetworkPolicy(), NetworkPolicy.from_settings(Settings())
    assert direct.media_max_bytes == configured.media_max_bytes == Settings().max_image_bytes
    assert direct.timeout == configured.timeout == Settings().fetch_timeout_s
    # the monitor and the crawl follow as many redirects
    assert direct.max_redirects == CrawlOptions().max_redirects


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://a.test/x", 80),
        ("https://a.test/x", 443),
        ("http://a.test:8080/x", 8080),
        ("https://a.test:8443/x", 8443),
    ],
)
def test_a_url_without_a_port_goes_to_its_scheme_port(url: str, port: int) -> None:
    assert NetworkPolicy().target(url).port == port
