"""A hash-sharing service in the shape of NCMEC's hash sharing API (v2, XML), on loopback.

The world's "known" list (benign pictures the world calls known) is served as NCMEC-style
entries: each entry an id, the member who shared it, a classification (`A1`/`A2`/`B1`/`B2`,
from the world's category) and its fingerprints (`md5`, `pdq`, and `sha256`, a simulated
extension: NCMEC itself has MD5, SHA1, PDNA, PDQ). What the product needs of the real service
is here, and nothing else:

- `GET /v2/status` (who am I), `GET /v2/members`;
- `GET /v2/entries?from=&to=` (times `%Y-%m-%dT%H:%M:%SZ`, UTC): the entries updated in
  [from, to), oldest update first, `size` at a time; a page that is not the last carries
  `<paging><next>` with the path of the next page (`start`, `size`, `max` as NCMEC's);
- deletions: an entry withdrawn by its member comes back once as a `<deletedImage>` tombstone
  in the window of its deletion;
- `GET /v2/feedback/{TYPE}/reasons` and `PUT /v2/entries/{esp}/{id}/{TYPE}/feedback`
  (upvote/downvote on one fingerprint), recorded for the tests to read back;
- `POST /v2/entries`: an upload, a `<submission>` of `<image>`s (classification,
  fingerprints), each made an entry of our member (`me`) and answered as `<images>` of the
  entries made. An image whose fingerprints an entry of the same member already has (any one
  of them) gives back that entry, updated: an upload sent again makes no second entry.

Basic authentication, one user. Faults for the tests: `corrupt_next(n)` makes the next `n`
entry pages malformed (cut in the middle), `fail_next(n)` answers them 503.

It imports nothing of the product (the sim's rule); `serve()` runs it alone on a loopback
address (the benchmark, tests), and the world mounts `handle` on its own address.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import functools
import html
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from orbweaver.sim import net
from orbweaver.sim.http import Request, Response, not_found, serve_connection

NS = "https://hashsharing.ncmec.org/hashsharing/v2"
DATE = "%Y-%m-%dT%H:%M:%SZ"
PAGE_SIZE = 1000
# The world's category → NCMEC's classification (A: prepubescent, B: pubescent; 1: sex act,
# 2: lascivious exhibition).
CLASSIFICATION = {
    "csam_prepubescent": "A1",
    "csam_postpubescent": "B1",
    "harmful_abusive": "HA",  # no NCMEC class: the world's own, as a hotline's list has it
}
REASONS = {
    "c3a1f4e2-0000-4000-8000-000000000001": "Not CSAM",
    "c3a1f4e2-0000-4000-8000-000000000002": "Poor quality fingerprint",
}


@dataclass
class Entry:
    """One shared entry as the service holds it: its state at its last update."""

    id: str
    member_id: int
    classification: str
    fingerprints: dict[str, str]
    updated: int  # seconds since the epoch (UTC)
    deleted: bool = False
    seq: int = 0  # order of updates at equal times


@dataclass
class Vote:
    esp_id: int
    entry_id: str
    fingerprint_type: str
    affirmative: bool
    reason_guids: tuple[str, ...]
    by: str


@dataclass
class HashSharing:
    """The service's state and its HTTP handler (an async `Request -> Response`)."""

    user: str = "orbweaver"
    password: str = "sim-password"
    members: dict[int, str] = field(default_factory=lambda: {1: "Sim Hotline", 2: "Sim Partner"})
    me: int = 99
    page_size: int = PAGE_SIZE
    page_delay_s: float = 0.0  # a slow service (tests that kill a fetch mid-way)
    entries: dict[str, Entry] = field(default_factory=dict)
    votes: list[Vote] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)  # entry ids, one per image uploaded
    now: Callable[[], float] = time.time  # the clock uploads are stamped with (the world's)
    requests: int = 0
    _order: list[tuple[int, int, str]] = field(default_factory=list)  # (updated, seq, id)
    _seq: int = 0
    _corrupt: int = 0
    _fail: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the list --------------------------------------------------------------------------

    def add(
        self,
        entry_id: str,
        fingerprints: dict[str, str],
        *,
        at: datetime | int,
        member_id: int = 1,
        classification: str = "A1",
    ) -> None:
        """Share (or update) an entry at time `at`."""
        self._put(Entry(entry_id, member_id, classification, dict(fingerprints), _ts(at)))

    def add_many(
        self, rows: Iterable[tuple[str, dict[str, str], str]], *, at: datetime | int
    ) -> int:
        """Share many entries at once: (id, fingerprints, classification) each; returns how many."""
        n = 0
        ts = _ts(at)
        with self._lock:
            for entry_id, prints, classification in rows:
                self._seq += 1
                entry = Entry(entry_id, 1, classification, prints, ts, seq=self._seq)
                self.entries[entry_id] = entry
                self._order.append((ts, self._seq, entry_id))
                n += 1
            self._order.sort()
        return n

    def delete(self, entry_id: str, *, at: datetime | int) -> None:
        """The member withdraws an entry: a tombstone from `at` on."""
        old = self.entries[entry_id]
        self._put(Entry(old.id, old.member_id, old.classification, {}, _ts(at), deleted=True))

    def _put(self, entry: Entry) -> None:
        with self._lock:
            old = self.entries.get(entry.id)
            if old is not None:
                i = bisect.bisect_left(self._order, (old.updated, old.seq, old.id))
                if i < len(self._order) and self._order[i][2] == old.id:
                    del self._order[i]
            self._seq += 1
            entry.seq = self._seq
            self.entries[entry.id] = entry
            bisect.insort(self._order, (entry.updated, entry.seq, entry.id))

    def corrupt_next(self, pages: int = 1) -> None:
        """The next `pages` entry pages are cut in the middle (malformed XML)."""
        self._corrupt = pages

    def fail_next(self, pages: int = 1) -> None:
        """The next `pages` entry pages are answered 503."""
        self._fail = pages

    # -- HTTP ------------------------------------------------------------------------------

    async def handle(self, req: Request) -> Response:
        self.requests += 1
        if not self._authorised(req.headers.get("authorization", "")):
            return Response(401, b"unauthorised", "text/plain", [("WWW-Authenticate", "Basic")])
        parts = [p for p in req.path.split("/") if p]
        if parts and parts[0] != "v2":
            parts = parts[1:]  # a base path in front (`/hashsharing/v2/...`)
        if parts[:1] != ["v2"]:
            return not_found()
        route = parts[1:]
        if req.method == "GET" and route == ["status"]:
            return _xml(f'<status xmlns="{NS}"><member id="{self.me}">orbweaver</member></status>')
        if req.method == "GET" and route == ["members"]:
            body = "".join(
                f'<member id="{i}">{escape(name)}</member>' for i, name in self.members.items()
            )
            return _xml(f'<members xmlns="{NS}">{body}</members>')
        if req.method == "GET" and route == ["entries"]:
            if self.page_delay_s:
                await asyncio.sleep(self.page_delay_s)
            return self._entries(req)
        if req.method == "GET" and len(route) == 3 and route[0] == "feedback":
            reasons = "".join(
                f'<reason guid="{g}" name="{escape(n)}"/>' for g, n in REASONS.items()
            )
            return _xml(
                f'<feedbackReasons xmlns="{NS}"><availableFeedbackReasons>{reasons}'
                "</availableFeedbackReasons></feedbackReasons>"
            )
        if req.method == "POST" and route == ["entries"]:
            return self._upload(req.body)
        if req.method == "PUT" and len(route) == 5 and route[0] == "entries":
            return self._feedback(route[1], route[2], route[3], req.body)
        return not_found()

    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return user == self.user and password == self.password

    def _entries(self, req: Request) -> Response:
        try:
            start_ts = _parse(req.arg("from"))
            end_ts = _parse(req.arg("to"))
            start = int(req.arg("start", "0") or 0)
            size = max(1, min(int(req.arg("size", str(self.page_size))), 10 * self.page_size))
        except ValueError as exc:
            return Response(400, str(exc).encode(), "text/plain")
        if self._fail:
            self._fail -= 1
            return Response(503, b"unavailable", "text/plain")
        with self._lock:
            lo = bisect.bisect_left(self._order, (start_ts, -1, ""))
            hi = bisect.bisect_left(self._order, (end_ts, -1, ""))
            page = [
                self.entries[key[2]] for key in self._order[lo + start : min(hi, lo + start + size)]
            ]
            total = hi - lo
        body = self._page_xml(page, start, size, total, req)
        if self._corrupt:
            self._corrupt -= 1
            body = body[: len(body) // 2]
        return Response(200, body, "application/xml; charset=utf-8")

    def _page_xml(
        self, page: list[Entry], start: int, size: int, total: int, req: Request
    ) -> bytes:
        images = page
        out = [f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NS}">']
        if images:
            max_ts = max(e.updated for e in images)
            out.append(f'<images count="{len(images)}" maxTimestamp="{_fmt(max_ts)}">')
            out.extend(self._entry_xml(e) for e in images)
            out.append("</images>")
        else:
            out.append('<images count="0"/>')
        out.append('<videos count="0"/>')
        if start + size < total:
            query = (
                f"from={quote(req.arg('from'))}&to={quote(req.arg('to'))}"
                f"&start={start + size}&size={size}&max={total}"
            )
            # `next` is relative to the service's base URL (the client puts that in front)
            out.append(f"<paging><next>{html.escape('/v2/entries?' + query)}</next></paging>")
        out.append("</queryResult>")
        return "".join(out).encode()

    def _entry_xml(self, e: Entry) -> str:
        member = f'<member id="{e.member_id}">{escape(self.members.get(e.member_id, ""))}</member>'
        when = f"<timestamp>{_fmt(e.updated)}</timestamp>"
        if e.deleted:
            return f"<deletedImage><id>{escape(e.id)}</id>{member}{when}</deletedImage>"
        prints = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in e.fingerprints.items())
        return (
            f"<image><id>{escape(e.id)}</id>{member}{when}"
            f"<classification>{escape(e.classification)}</classification>"
            f"<fingerprints>{prints}</fingerprints></image>"
        )

    def _upload(self, body: bytes) -> Response:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return Response(400, f"not XML: {exc}".encode(), "text/plain")
        if _local(root.tag) != "submission":
            return Response(400, b"expected a <submission>", "text/plain")
        made: list[Entry] = []
        for image in root:
            if _local(image.tag) != "image":
                return Response(400, b"a submission holds <image>s", "text/plain")
            classification, prints = "", {}
            for child in image:
                if _local(child.tag) == "classification":
                    classification = (child.text or "").strip()
                elif _local(child.tag) == "fingerprints":
                    prints = {_local(f.tag).lower(): (f.text or "").strip() for f in child}
            prints = {k: v for k, v in prints.items() if v}
            if not prints:
                return Response(400, b"an image without fingerprints", "text/plain")
            with self._lock:
                same = next(
                    (
                        e
                        for e in self.entries.values()
                        if e.member_id == self.me
                        and not e.deleted
                        and any(e.fingerprints.get(k) == v for k, v in prints.items())
                    ),
                    None,
                )
                entry_id = same.id if same is not None else f"up-{len(self.uploads) + 1:08d}"
            self._put(Entry(entry_id, self.me, classification, prints, int(self.now())))
            self.uploads.append(entry_id)
            made.append(self.entries[entry_id])
        entries = "".join(self._entry_xml(e) for e in made)
        return _xml(f'<submissionResult xmlns="{NS}"><images>{entries}</images></submissionResult>')

    def _feedback(self, esp: str, entry_id: str, kind: str, body: bytes) -> Response:
        entry = self.entries.get(entry_id)
        if entry is None or str(entry.member_id) != esp or entry.deleted:
            return not_found()
        text = body.decode("utf-8", "replace")
        affirmative = "<affirmative" in text
        if not affirmative and "<negative" not in text:
            return Response(400, b"expected affirmative or negative", "text/plain")
        guids = tuple(g for g in REASONS if g in text)
        if not affirmative and not guids:
            return Response(400, b"a negative feedback needs a reason id", "text/plain")
        self.votes.append(Vote(entry.member_id, entry_id, kind, affirmative, guids, self.user))
        return Response(200, b"", "application/xml")


def _xml(text: str) -> Response:
    return Response(
        200, ('<?xml version="1.0" encoding="UTF-8"?>' + text).encode(), "application/xml"
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _ts(at: datetime | int) -> int:
    return int(at.timestamp()) if isinstance(at, datetime) else int(at)


def _fmt(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(DATE)


def _parse(text: str) -> int:
    if not text:
        raise ValueError("from and to are required")
    return int(datetime.strptime(text, DATE).replace(tzinfo=UTC).timestamp())


def world_entries(
    rows: Iterable[tuple[str, str, str]], *, group: int = 3
) -> list[tuple[str, dict[str, str], str]]:
    """The world's known-list rows (signal_type, signal, category), `group` per picture in
    order, as entries: (id, fingerprints, classification)."""
    out: list[tuple[str, dict[str, str], str]] = []
    current: dict[str, str] = {}
    category = ""
    for i, (signal_type, signal, cat) in enumerate(rows):
        current[signal_type] = signal
        category = cat
        if (i + 1) % group == 0:
            out.append((f"sim-{len(out) + 1:08d}", current, CLASSIFICATION.get(category, "HA")))
            current = {}
    if current:
        out.append((f"sim-{len(out) + 1:08d}", current, CLASSIFICATION.get(category, "HA")))
    return out


class Server:
    """The service alone on a loopback address, in a thread of its own (tests, benchmark)."""

    def __init__(self, service: HashSharing, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self.host = net.require_loopback(host)
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None

    @property
    def url(self) -> str:
        """The base URL a client is given (`…/hashsharing`, as NCMEC's)."""
        return f"http://{self.host}:{self.port}/hashsharing"

    def start(self) -> Server:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sim-hashsharing", daemon=True
        )
        self._thread.start()

        async def bind() -> int:
            self._server = await asyncio.start_server(
                functools.partial(serve_connection, handler=self.service.handle),
                self.host,
                self.port,
                limit=2**20,
            )
            return int(self._server.sockets[0].getsockname()[1])

        self.port = asyncio.run_coroutine_threadsafe(bind(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def close() -> None:
            self._server.close()
            current = asyncio.current_task()
            for task in [t for t in asyncio.all_tasks() if t is not current]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()

    def __enter__(self) -> Server:
        return self.start() if self._loop is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
