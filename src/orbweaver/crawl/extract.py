"""Link and media extraction from HTML, and archive passwords from the text around a link.

Extraction only proposes URLs: what a URL really is (page, image, video, archive) is decided from
the bytes when it is fetched (`crawl.sniff`), because extensions lie. Extensions only pick the size
cap and the queue a request goes to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from w3lib.url import safe_url_string

MEDIA_EXTENSIONS = frozenset(
    [
        "jpg",
        "jpeg",
        "jpe",
        "jfif",
        "png",
        "gif",
        "webp",
        "bmp",
        "tif",
        "tiff",
        "avif",
        "heic",
        "heif",
        "ico",
        "mp4",
        "m4v",
        "webm",
        "mov",
        "avi",
        "mkv",
        "mpg",
        "mpeg",
        "wmv",
        "flv",
        "3gp",
    ]
)
ARCHIVE_EXTENSIONS = frozenset(["zip", "7z", "rar", "tar", "tgz", "gz", "bz2", "xz", "cbz", "cbr"])
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~"
_SKIP_SCHEMES = ("javascript:", "mailto:", "data:", "tel:", "about:", "blob:")
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)""", re.IGNORECASE)
_PASSWORD_LABEL = re.compile(
    r"""(?:password|passwort|passwd|pass|pwd|pw|key|mot\s+de\s+passe|contrase[nñ]a|пароль)"""
    r"""\s*(?:is)?\s*[:=\-–]\s*["'“«`]?([^\s"'”»`<>]{1,64})""",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"""["“«`]([^\s"”»`]{3,64})["”»`]""")
_CONTEXT_TAGS = frozenset(["article", "li", "td", "blockquote", "section", "p", "dd", "pre"])
_TOKEN_TAGS = frozenset(["code", "kbd", "tt", "samp", "b", "strong", "em"])


@dataclass
class Links:
    """What one page links to, deduplicated, in document order."""

    pages: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    archives: list[tuple[str, list[str]]] = field(default_factory=list)
    # How many media/page links were dropped by the per-page caps (for the log).
    dropped_media: int = 0
    dropped_pages: int = 0
    bad_urls: int = 0


_C0_AND_SPACE = "".join(chr(i) for i in range(0x21))
_TAB_OR_NEWLINE = re.compile("[\t\n\r]")


def extension(url: str) -> str:
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def normalise(base: str, raw: str | None) -> str | None:
    """An absolute, percent-encoded http(s) URL without fragment, or None when unusable.

    Undecodable bytes in a page (invalid UTF-8) reach us as replacement characters or surrogates;
    `safe_url_string` percent-encodes them, so one odd href never stops the page.
    """
    if not raw:
        return None
    # As browsers do (WHATWG URL): C0 controls and spaces at either end stripped, tabs and
    # line breaks anywhere removed. urlsplit strips the ends too, so without this a URL that
    # ended in controls normalised differently the second time.
    raw = _TAB_OR_NEWLINE.sub("", raw.strip(_C0_AND_SPACE))
    if not raw or raw.startswith("#") or raw.lower().startswith(_SKIP_SCHEMES):
        return None
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # undecodable bytes kept as surrogates: percent-encode the original bytes
        raw = quote(raw.encode("utf-8", "surrogateescape"), safe=_URL_SAFE)
    try:
        url = safe_url_string(urljoin(base, raw), encoding="utf-8")
        parts = urlsplit(url)
    except (ValueError, UnicodeError):
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if any(ch <= " " or ch == "\x7f" for ch in parts.netloc):
        return None  # a control character or space in the host: no such host, never a lookup
    if parts.path.endswith(";"):
        # urljoin drops an empty `;params` from some URLs and keeps it in others: drop it
        # always, so normalising a normalised URL gives it back (found by fuzzing)
        url = urlunsplit(parts._replace(path=parts.path.rstrip(";"), fragment=""))
    return url.split("#", 1)[0]


def _srcset(value: str) -> list[str]:
    return [part.strip().split(" ", 1)[0] for part in value.split(",") if part.strip()]


def _element_urls(el: Any) -> tuple[list[str], list[str]]:
    """(media candidates, page candidates) carried by one element's attributes."""
    tag = el.tag if isinstance(el.tag, str) else ""
    attrs = el.attrib
    media: list[str] = []
    pages: list[str] = []
    if tag in ("img", "source", "video", "audio", "embed", "input"):
        for name in ("src", "data-src", "poster"):
            if attrs.get(name):
                media.append(attrs[name])
        for name in ("srcset", "data-srcset"):
            if attrs.get(name):
                media.extend(_srcset(attrs[name]))
    elif tag == "meta":
        prop = (attrs.get("property") or attrs.get("name") or "").lower()
        if prop in ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "og:video"):
            media.append(attrs.get("content", ""))
    elif tag in ("iframe", "frame"):
        pages.append(attrs.get("src", ""))
    style = attrs.get("style")
    if style and "url(" in style:
        media.extend(_CSS_URL.findall(style))
    return media, pages


def password_candidates(anchor: Any, limit: int = 8) -> list[str]:
    """Passwords offered near a link: "password: x" phrases, then code/bold tokens, then quoted
    strings, from the nearest enclosing post-like element, widened to its ancestors (a forum
    post often puts "Link: …" and "Password: …" in sibling paragraphs) until something is found
    or the context grows past a post's size. Bounded, so a hostile page cannot make the crawler
    try thousands of passwords on one archive."""
    context = anchor
    for _ in range(6):
        parent = context.getparent()
        if parent is None or parent.tag in ("body", "html"):
            break
        context = parent
        if context.tag not in _CONTEXT_TAGS and len(context.text_content()) <= 200:
            continue  # an inline wrapper (span, a, font): keep climbing to the post
        found = _candidates_in(context)
        if found or len(context.text_content()) > _POST_CHARS:
            return found[:limit]
    return _candidates_in(context)[:limit] if context is not anchor else []


_POST_CHARS = 2000


def _candidates_in(context: Any) -> list[str]:
    text = context.text_content()[:4000]
    found: list[str] = list(_PASSWORD_LABEL.findall(text))
    for el in context.iter(*_TOKEN_TAGS):
        token = (el.text_content() or "").strip()
        if 0 < len(token) <= 64 and " " not in token:
            found.append(token)
    found.extend(_QUOTED.findall(text))
    return list(dict.fromkeys(found))


def extract(root: Any, base_url: str, *, max_media: int = 5000, max_pages: int = 5000) -> Links:
    """Every page, media and archive URL of a parsed document (lxml root), capped per page."""
    links = Links()
    media: dict[str, None] = {}
    pages: dict[str, None] = {}
    archives: dict[str, list[str]] = {}
    base = base_url
    for el in root.iter("base"):
        if el.get("href"):
            base = normalise(base_url, el.get("href")) or base_url
        break

    def add(bucket: dict[str, None], raw: str | None) -> None:
        url = normalise(base, raw)
        if url is None:
            if raw and raw.strip() and not raw.strip().startswith("#"):
                links.bad_urls += 1
            return
        bucket[url] = None

    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in ("a", "area"):
            url = normalise(base, el.get("href"))
            if url is None:
                continue
            ext = extension(url)
            if ext in ARCHIVE_EXTENSIONS:
                if url not in archives:
                    archives[url] = password_candidates(el)
            elif ext in MEDIA_EXTENSIONS:
                media[url] = None
            else:
                pages[url] = None
        elif el.tag == "style" and el.text and "url(" in el.text:
            for raw in _CSS_URL.findall(el.text):
                add(media, raw)
        media_raw, page_raw = _element_urls(el)
        for raw in media_raw:
            add(media, raw)
        for raw in page_raw:
            add(pages, raw)
    links.media = list(media)[:max_media]
    links.dropped_media = max(0, len(media) - max_media)
    links.pages = list(pages)[:max_pages]
    links.dropped_pages = max(0, len(pages) - max_pages)
    links.archives = list(archives.items())[:max_media]
    return links
