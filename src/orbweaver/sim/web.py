"""The sites: image hosts, image boards, file hosts (archives) and onion forums, plus their traps.

Every page is computed from the catalogue at world time, so a page lists what is online *now* and
new uploads appear as the clock moves. Media are linked in every way a crawler must understand:
`<img src>`, `srcset`, `<a href>`, `og:image` and CSS `url()`.
"""

from __future__ import annotations

import asyncio
import html
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from email.utils import format_datetime

from orbweaver.sim import media
from orbweaver.sim.behaviour import Engine
from orbweaver.sim.catalogue import Item, Site
from orbweaver.sim.http import Request, Response, not_found, text_response

SPACER_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
SLOW_CHUNK, SLOW_PAUSE = 256, 0.2
OVERSIZED_LENGTH = 8 * 1024**3


class MediaStore:
    """Rendered bytes (bounded cache) and the sha256 → picture index the analysts' API uses."""

    def __init__(self, engine: Engine, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.engine = engine
        self.cache = media.ByteCache(cache_bytes)
        self.sha_to_image: dict[str, int] = {}
        self.sealed: dict[int, bytes] = {}
        self.digests: dict[tuple[media.Picture, media.Variant], str] = {}
        self._lock = threading.Lock()

    def image_bytes(self, image_id: int, variant: media.Variant) -> bytes:
        """Render (or reuse) one copy, and remember which picture its sha256 belongs to."""
        picture = self.engine.cat.images[image_id].picture
        key = (picture, variant if variant.kind != "same" else media.ORIGINAL)
        data = media.cached_render(picture, variant, self.cache)
        if key not in self.digests:
            digest = media.sha256_hex(data)
            with self._lock:
                self.digests[key] = digest
                self.sha_to_image[digest] = image_id
        return data

    def cached_item_bytes(self, item: Item) -> bytes | None:
        """The bytes if no rendering is needed (so the event loop can skip a thread hop)."""
        if item.kind == "archive":
            return self.sealed.get(item.id) or self.cache.get(("archive", item.id))
        variant = item.variant if item.variant.kind != "same" else media.ORIGINAL
        picture = self.engine.cat.images[item.image_ids[0]].picture
        if (picture, variant) not in self.digests:
            return None
        return self.cache.get(("img", picture, variant))

    def item_bytes(self, item: Item) -> bytes:
        if item.kind == "image":
            return self.image_bytes(item.image_ids[0], item.variant)
        key = ("archive", item.id)
        data = self.sealed.get(item.id) or self.cache.get(key)
        if data is None:
            for image_id, member in zip(item.image_ids, item.members, strict=True):
                self.image_bytes(image_id, member.variant)
            assert item.archive_fmt is not None
            data = media.build_archive(
                item.archive_fmt, list(item.members), item.password, self.cache
            )
            if item.password is None:
                self.cache.put(key, data)
            else:  # encryption draws a random salt: keep these bytes, so they never change
                self.sealed[item.id] = data
        return data

    def label(self, sha256: str) -> dict[str, object] | None:
        image_id = self.sha_to_image.get(sha256.lower())
        if image_id is None:
            return None
        image = self.engine.cat.images[image_id]
        return {
            "sha256": sha256.lower(),
            "image_id": image.id,
            "label": image.label,
            "category": image.category or "not_actionable",
        }


def page(title: str, body: str, head: str = "") -> Response:
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{head}</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(200, doc.encode())


def paginate(items: list[Item], req: Request, size: int) -> tuple[list[Item], str]:
    try:
        n = max(1, int(req.arg("page", "1")))
    except ValueError:
        n = 1
    chunk = items[(n - 1) * size : n * size]
    nav = ""
    if n * size < len(items):
        nav = f"<p><a rel='next' href='{req.path}?page={n + 1}'>next page</a></p>"
    return chunk, nav


class Sites:
    """Answers HTTP for every site; the caller (listener, CDN edge, Tor gateway) picks the site."""

    def __init__(self, engine: Engine, store: MediaStore) -> None:
        self.engine = engine
        self.store = store
        self.requests = 0
        # item id -> times its bytes were served (scale-out benchmarks: a file fetched twice)
        self.items_served: Counter[int] = Counter()
        self.forums = [s for s in engine.cat.sites.values() if s.kind == "forum"]
        self._listings: dict[tuple[int, bool], tuple[tuple[datetime, int], list[Item]]] = {}

    @property
    def now(self) -> datetime:
        return self.engine.clock.now()

    async def handle(self, req: Request, site: Site) -> Response:
        self.requests += 1
        if req.method not in ("GET", "HEAD"):
            return text_response("method not allowed\n", 405)
        if req.path.startswith("/trap/"):
            return await self.trap(req, site)
        if req.path == "/static/spacer.gif":
            return Response(200, SPACER_GIF, "image/gif")
        item = site.by_path.get(req.path)
        if item is not None:
            return await self.serve_item(item)
        return self.render_page(req, site)

    async def serve_item(self, item: Item) -> Response:
        now = self.now
        if not item.online(now):
            party = item.site.frontline
            gone = party.behaviour.removed_status if party else 404
            status = 404 if item.uploaded_at > now else gone
            return text_response("this file is no longer available\n", status)
        self.items_served[item.id] += 1
        data = self.store.cached_item_bytes(item)
        if data is None:
            data = await asyncio.to_thread(self.store.item_bytes, item)
        if item.kind == "image":
            fmt = item.variant.fmt or self.engine.cat.images[item.image_ids[0]].picture.fmt
            ctype = media.CONTENT_TYPES[fmt]
        else:
            ctype = media.CONTENT_TYPES[item.archive_fmt or "zip"]
        headers = [
            ("Last-Modified", format_datetime(item.uploaded_at, usegmt=True)),
            ("ETag", f'"{len(data):x}-{item.id:x}"'),
        ]
        if item.kind == "archive":
            headers.append(
                ("Content-Disposition", f'attachment; filename="{item.path.rsplit("/", 1)[-1]}"')
            )
        return Response(200, data, ctype, headers)

    def render_page(self, req: Request, site: Site) -> Response:
        kind = site.kind
        if kind == "forum":
            return self.forum(req, site)
        if req.path.startswith("/view/"):
            return self.view(site, req.path[len("/view/") :])
        if kind == "image_board" and req.path.startswith("/b/thread/"):
            return self.thread(site, req.path[len("/b/thread/") :])
        if kind == "file_host" and req.path.startswith("/f/"):
            return self.file_page(site, req.path[len("/f/") :])
        if req.path == "/":
            if kind == "image_board":
                return (
                    self.board(req, site)
                    if req.arg("page")
                    else page(site.domain, "<a href='/b/'>/b/ - random</a>" + self.trap_links(site))
                )
            return self.index(req, site)
        if req.path == "/b/" and kind == "image_board":
            return self.board(req, site)
        return not_found()

    def listing(self, site: Site, public_only: bool = False) -> list[Item]:
        """Online items, newest first, memoised until the clock or the catalogue changes."""
        now = self.now
        key = (site.index, public_only)
        stamp = (now, self.engine.cat.version)
        hit = self._listings.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        items = site.listing(now, public_only)
        self._listings[key] = (stamp, items)
        return items

    def trap_links(self, site: Site) -> str:
        links = {
            "slow": "/trap/slow.jpg",
            "broken": "/trap/broken.jpg",
            "redirect_loop": "/trap/loop/a",
            "oversized": "/trap/big.zip",
            "huge_page": "/trap/many.html",
        }
        return "".join(f"<a href='{links[t]}'>{t}</a> " for t in site.traps)

    def index(self, req: Request, site: Site) -> Response:
        size = self.engine.cat.scenario.world.page_size
        public_only = site.kind == "file_host" and bool(self.forums)
        items, nav = paginate(self.listing(site, public_only), req, size)
        rows = []
        for it in items:
            if site.kind == "file_host":
                rows.append(
                    f"<li><a href='/f/{it.key}'>{html.escape(it.path.rsplit('/', 1)[-1])}</a></li>"
                )
            elif it.id % 3 == 0:
                rows.append(
                    f"<li><a href='/view/{it.key}'><img src='{it.path}' width='160'></a></li>"
                )
            else:
                rows.append(f"<li><a href='/view/{it.key}'>upload {it.key}</a></li>")
        return page(
            f"{site.domain} - latest uploads",
            f"<ul>{''.join(rows)}</ul>{nav}{self.trap_links(site)}",
        )

    def _by_key(self, site: Site, key: str) -> Item | None:
        for it in site.items:
            if it.key == key and it.online(self.now):
                return it
        return None

    def view(self, site: Site, key: str) -> Response:
        it = self._by_key(site, key)
        if it is None or it.kind != "image":
            return not_found()
        src, head = it.path, ""
        if self.engine.cat.images[it.image_ids[0]].picture.is_video:
            return page(f"upload {key}", self._video_tag(it))
        style = ("img", "srcset", "a_href", "og", "css")[it.id % 5]
        if style == "img":
            body = f"<img src='{src}' alt='upload'>"
        elif style == "srcset":
            body = (
                f"<picture><source srcset='{src} 1x, {src} 2x'>"
                "<img src='/static/spacer.gif'></picture>"
            )
        elif style == "a_href":
            body = f"<p><a href='{src}'>view full size</a></p>"
        elif style == "og":
            head = f"<meta property='og:image' content='http://{site.domain}{src}'>"
            body = "<p>shared image</p>"
        else:
            body = f"<div class='pic' style=\"background-image: url('{src}')\"></div>"
        return page(f"upload {key}", body, head)

    @staticmethod
    def _video_tag(it: Item) -> str:
        """A video's page: `<video src>`, `<video><source>` or a link, by the item."""
        src = it.path
        style = ("video", "source", "a_href")[it.id % 3]
        if style == "video":
            return f"<video src='{src}' controls></video>"
        if style == "source":
            kind = "video/webm" if src.endswith(".webm") else "video/mp4"
            return f"<video controls><source src='{src}' type='{kind}'></video>"
        return f"<p><a href='{src}'>download video</a></p>"

    def board(self, req: Request, site: Site) -> Response:
        items, nav = paginate(self.listing(site), req, self.engine.cat.scenario.world.page_size)
        rows = "".join(
            f"<div class='thread'><a href='/b/thread/{it.key}'>No.{it.id}</a> "
            f"<a href='{it.path}'><img src='{it.path}' width='120'></a></div>"
            for it in items
        )
        return page("/b/ - random", rows + nav)

    def thread(self, site: Site, key: str) -> Response:
        it = self._by_key(site, key)
        if it is None:
            return not_found()
        body = (
            f"<div class='post op'><a href='{it.path}'>{it.path.rsplit('/', 1)[-1]}</a>"
            f"<br><img src='{it.path}'><blockquote>bump</blockquote></div>"
        )
        return page(f"/b/ - thread {it.id}", body)

    def file_page(self, site: Site, key: str) -> Response:
        it = self._by_key(site, key)
        if it is None:
            return not_found()
        name = it.path.rsplit("/", 1)[-1]
        return page(
            f"download {name}",
            f"<p>{len(it.members)} files</p>"
            f"<a class='btn' href='{it.path}'>Download {html.escape(name)}</a>",
        )

    def forum_posts(self, site: Site) -> list[Item]:
        """Archives announced on this forum: every file-host archive, spread over the forums."""
        idx = self.forums.index(site)
        now = self.now
        posts = [
            it
            for it in self.engine.cat.items
            if it.kind == "archive" and it.id % len(self.forums) == idx and it.uploaded_at <= now
        ]
        return sorted(posts, key=lambda it: it.uploaded_at, reverse=True)

    def forum(self, req: Request, site: Site) -> Response:
        if req.path.startswith("/t/"):
            key = req.path[3:]
            for it in self.forum_posts(site):
                if it.key == key:
                    pw = (
                        f"<p>Password: <code>{it.password}</code></p>"
                        if it.password
                        else "<p>no password</p>"
                    )
                    body = (
                        f"<div class='post'><p>new set, {len(it.members)} pics</p>"
                        f"<p>Link: <a href='{it.url}'>{it.url}</a></p>{pw}</div>"
                    )
                    return page(f"thread {key}", body)
            return not_found()
        if req.path != "/":
            return not_found()
        items, nav = paginate(self.forum_posts(site), req, self.engine.cat.scenario.world.page_size)
        rows = "".join(f"<li><a href='/t/{it.key}'>set {it.key}</a></li>" for it in items)
        return page("hidden board", f"<ul>{rows}</ul>{nav}")

    # -- traps ------------------------------------------------------------------------------

    async def trap(self, req: Request, site: Site) -> Response:
        path = req.path
        if path == "/trap/loop/a" and "redirect_loop" in site.traps:
            return Response(302, b"", headers=[("Location", "/trap/loop/b")])
        if path == "/trap/loop/b" and "redirect_loop" in site.traps:
            return Response(302, b"", headers=[("Location", "/trap/loop/a")])
        sample = media.Picture(seed=site.index + 991, width=400, height=300, fmt="jpeg")
        if path == "/trap/broken.jpg" and "broken" in site.traps:
            data = media.cached_render(sample, media.ORIGINAL, self.store.cache)
            return Response(200, data[: len(data) // 2], "image/jpeg")
        if path == "/trap/slow.jpg" and "slow" in site.traps:
            data = media.cached_render(sample, media.ORIGINAL, self.store.cache)
            return Response(
                200, content_type="image/jpeg", stream=trickle(data), content_length=len(data)
            )
        if path == "/trap/big.zip" and "oversized" in site.traps:
            return Response(
                200, content_type="application/zip", stream=zeros(), content_length=OVERSIZED_LENGTH
            )
        if path == "/trap/many.html" and "huge_page" in site.traps:
            n = self.engine.cat.scenario.world.bad.huge_page_links
            return Response(200, stream=many_links(n), content_length=None)
        return not_found()


async def trickle(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), SLOW_CHUNK):
        yield data[i : i + SLOW_CHUNK]
        await asyncio.sleep(SLOW_PAUSE)


async def zeros() -> AsyncIterator[bytes]:
    """Zeros for as long as the client keeps reading; never materialised."""
    chunk = bytes(64 * 1024)
    for _ in range(OVERSIZED_LENGTH // len(chunk)):
        yield chunk


async def many_links(n: int) -> AsyncIterator[bytes]:
    yield b"<!doctype html><html><body><h1>gallery</h1>"
    for start in range(0, n, 1000):
        yield "".join(
            f"<img src='/trap/m/{k}.jpg'>" for k in range(start, min(n, start + 1000))
        ).encode()
    yield b"</body></html>"
