"""Properties of URL normalisation (hypothesis), and the inputs fuzzing found against them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orbweaver.crawl.extract import normalise

BASE = "http://fuzz.test/a/b.html"
URLISH = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, host, path: f"{scheme}://{host}/{path}",
        st.sampled_from(["http", "https", "HTTP", "ftp"]),
        st.text(max_size=20),
        st.text(max_size=30),
    ),
)


@settings(max_examples=400, deadline=None)
@given(URLISH)
def test_normalising_is_idempotent_and_yields_sane_urls(raw: str) -> None:
    url = normalise(BASE, raw)
    if url is None:
        return
    assert url.startswith(("http://", "https://")) and "#" not in url
    host = url.split("://", 1)[1].split("/", 1)[0]
    assert all(ch > " " and ch != "\x7f" for ch in host), url
    assert normalise(BASE, url) == url


def test_found_by_fuzzing() -> None:
    # control characters in the host used to survive into the URL (and a DNS look-up)
    assert normalise(BASE, "HTTPS://Exa\x01\x00\x00\x00.T\x01\x00Thttp\x01\x00:") is None
    # an empty ;params was dropped on the second pass only
    once = normalise(BASE, ";\x00\x00\x00\x07#")
    assert once is not None and normalise(BASE, once) == once
    # C0 controls and spaces at the ends, tabs and newlines inside, go as in a browser
    assert normalise(BASE, " \x00/c\td.jpg\n\x1f") == "http://fuzz.test/cd.jpg"
