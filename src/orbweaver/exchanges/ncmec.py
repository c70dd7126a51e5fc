"""NCMEC's hash sharing API (v2, XML) through python-threatexchange's client (`NCMECHashAPI`).

What is ours: the base URL (the library knows NCMEC's own environments; a deployment, or the
simulated world, gives its address), every request through the deployment's network policy,
times from the injected clock (the library's `get_entries` formats `from`/`to` in local time
and reads the wall clock), and the checkpoint: `{"from", "to", "next"}`, where `next` is the
paging path of the page after the last one stored (NCMEC keeps those 12 hours) and a finished
window leaves `{"from": to}`. Entries come back in no time order, so only a finished window
moves `from`; within one, `next` resumes exactly after the last stored page.

Each entry's fingerprints become our signals where we have the type (`md5`, `sha1`, `pdq`;
`sha256` in the simulated world's extension); PhotoDNA and the video hashes we do not compute
are counted as skipped. Deleted entries (`<deletedImage>`) withdraw what the entry gave.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import requests
from threatexchange.exchanges.clients.ncmec import hash_api as api
from threatexchange.exchanges.clients.utils.common import TimeoutHTTPAdapter
from urllib3.util.retry import Retry

from orbweaver.exchanges.base import (
    ExchangeError,
    FeedbackRefused,
    Fingerprint,
    MalformedPage,
    Page,
    Submission,
    SubmissionRefused,
    Update,
    Vote,
)
from orbweaver.exchanges.settings import ExchangeConfig

log = logging.getLogger(__name__)

DATE = "%Y-%m-%dT%H:%M:%SZ"
NS = "https://hashsharing.ncmec.org/hashsharing/v2"
PAGING_TTL_S = 12 * 3600  # NCMEC: do not keep paging URLs longer
# NCMEC's fingerprint elements (lower-cased by its XML) → our signal types.
SIGNAL_OF = {"md5": "md5", "sha1": "sha1", "pdq": "pdq", "sha256": "sha256"}
# What an upload carries (NCMEC's names; `sha256` the simulated world's extension).
UPLOAD_TYPES = ("md5", "sha1", "pdq", "sha256")
FEEDBACK_TYPE = {"md5": "MD5", "sha1": "SHA1", "pdq": "PDQ", "pdna": "PDNA"}

Guard = Callable[[str], None]


class _GuardedAdapter(TimeoutHTTPAdapter):
    """The library's adapter (timeout, retries), every request's URL checked first."""

    def __init__(self, guard: Guard | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if self._guard is not None and request.url:
            try:
                self._guard(request.url)
            except ValueError as exc:  # the network policy's refusal
                raise ExchangeError(f"refused by the network policy: {exc}") from None
        return super().send(request, *args, **kwargs)


class HashAPI(api.NCMECHashAPI):
    """python-threatexchange's NCMEC client at any base URL, behind our network policy."""

    def __init__(
        self, user: str, password: str, base_url: str, *, guard: Guard | None, timeout: float
    ) -> None:
        super().__init__(user, password, api.NCMECEnvironment.NGO)
        self._base_url = base_url.rstrip("/")
        self._guard = guard
        self._timeout = timeout

    def _get_session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (self.username, self.password)
        session.trust_env = False  # no proxy from the environment: the policy decides
        session.mount(
            self._base_url,
            _GuardedAdapter(
                self._guard,
                timeout=self._timeout,
                max_retries=Retry(
                    total=4,
                    status_forcelist=[429, 500, 502, 503, 504],
                    allowed_methods=["HEAD", "GET", "OPTIONS"],
                    backoff_factor=0.2,
                ),
            ),
        )
        return session

    def entries_page(self, start: int, end: int, next_: str) -> api.GetEntriesResponse:
        """One page of `get_entries`, with UTC times (the library formats them in local
        time) and parse failures told apart from the service's errors."""
        try:
            root = self._get(
                api.NCMECEndpoint.entries,
                next_=next_,
                to=_fmt(end),
                **{"from": _fmt(start)},
            )
        except ET.ParseError as exc:
            raise MalformedPage(f"the service's page is not XML ({exc})") from None
        except requests.RequestException as exc:
            raise ExchangeError(f"the service did not answer the page: {_plain(exc)}") from None
        if root.tag != "queryResult":
            raise MalformedPage(f"the service's page is a <{root.tag}>, not a <queryResult>")
        try:
            return api.GetEntriesResponse.from_xml(api._XMLWrapper(root), end)
        except (IndexError, ValueError, AssertionError, KeyError, TypeError) as exc:
            raise MalformedPage(f"an entry of the page cannot be read ({exc!r})") from None

    def upload(self, submission: Submission) -> str:
        """POST one image's fingerprints to `v2/entries`; the id of the entry the service
        made (or already had for these fingerprints). The body is a `<submission>` of one
        `<image>` (classification, fingerprints), the answer a list of `<images>` read by the
        library's `UpdateEntryResponse` (its client has the POST and that parser, not yet the
        call: python-threatexchange 1.x)."""
        root = ET.Element("submission", {"xmlns": NS})
        image = ET.SubElement(root, "image")
        if submission.classification:
            ET.SubElement(image, "classification").text = submission.classification
        prints = ET.SubElement(image, "fingerprints")
        for kind, value in sorted(submission.fingerprints.items()):
            ET.SubElement(prints, kind).text = value
        response = self._post(api.NCMECEndpoint.entries, data=ET.tostring(root))
        it = ET.iterparse(BytesIO(response.content))
        for _, el in it:
            el.tag = el.tag.partition("}")[2] or el.tag
        answer = api.UpdateEntryResponse.from_xml(api._XMLWrapper(it.root), 0)  # type: ignore[attr-defined]
        if not answer.updates:
            raise ExchangeError("the service's answer to the upload names no entry")
        return answer.updates[0].id


def _fmt(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(DATE)


def _plain(exc: BaseException) -> str:
    """An error said plainly: the request, and the cause urllib3 tucks away (`too many 503
    error responses`, a refused connection); credentials travel in a header, never here."""
    text = str(exc)
    head, _, cause = text.partition(" (Caused by ")
    found = re.search(r"ResponseError\('([^']*)'\)", cause) or re.search(r"(\w+Error)\(", cause)
    reason = f" ({found.group(1)})" if found else ""
    return (head[:300] + reason)[:400]


class NcmecClient:
    """One NCMEC-shaped exchange: its configuration, credentials and network guard."""

    def __init__(
        self,
        config: ExchangeConfig,
        credentials: str,
        *,
        guard: Guard | None = None,
        timeout: float = 60.0,
        signal_types: frozenset[str] = frozenset(SIGNAL_OF.values()),
    ) -> None:
        user, _, password = credentials.partition(":")
        if not (user and password):
            raise ExchangeError("NCMEC needs credentials user:password")
        if not config.url:
            raise ExchangeError("NCMEC needs the service's base URL (url)")
        self.config = config
        self.api = HashAPI(user, password, config.url, guard=guard, timeout=timeout)
        self.signal_types = signal_types
        self._members: dict[int, str] = {}

    def pages(self, checkpoint: dict[str, Any], now: datetime) -> Iterator[Page]:
        start = int(checkpoint.get("from", 0))
        next_ = str(checkpoint.get("next", ""))
        end = int(checkpoint.get("to", 0))
        saved = float(checkpoint.get("saved", 0))
        now_ts = int(now.timestamp())
        if next_ and now_ts - saved > PAGING_TTL_S:
            log.info("ncmec %s: paging path older than 12 h, window fetched again", self.config.url)
            next_ = ""
        if not next_:
            end = now_ts - 5  # NCMEC: not at the very end, entries arrive out of order
            if end <= start:
                yield Page([], {"from": start}, complete=True)
                return
        self._members = self._member_names()
        while True:
            response = self.api.entries_page(start, end, next_)
            updates, skipped = self._updates(response.updates)
            next_ = response.next
            if next_:
                yield Page(
                    updates,
                    {"from": start, "to": end, "next": next_, "saved": now_ts},
                    skipped=skipped,
                )
            else:
                yield Page(updates, {"from": end}, complete=True, skipped=skipped)
                return

    def _updates(self, entries: list[api.NCMECEntryUpdate]) -> tuple[list[Update], list[str]]:
        out: list[Update] = []
        skipped: list[str] = []
        only = set(self.config.members)
        for entry in entries:
            if only and entry.member_id not in only:
                continue
            member = self._member_name(entry)
            if entry.deleted:
                out.append(Update(entry.id, deleted=True, member_id=str(entry.member_id)))
                continue
            prints = []
            for kind, value in entry.fingerprints.items():
                ours = SIGNAL_OF.get(kind.lower())
                if ours is None or ours not in self.signal_types:
                    skipped.append(f"{entry.id}: {kind} (not a signal type here)")
                    continue
                prints.append(Fingerprint(ours, value, FEEDBACK_TYPE.get(kind.lower(), kind)))
            tags = tuple(t for t in (entry.classification, entry.entry_type.value) if t)
            out.append(
                Update(
                    entry.id,
                    tuple(prints),
                    member_id=str(entry.member_id),
                    member=member,
                    category=self.config.category_of(entry.classification),
                    tags=tags,
                )
            )
        return out, skipped

    def _member_names(self) -> dict[int, str]:
        """Members' names (`/members`, once a fetch); ids alone when it does not answer."""
        try:
            return {m.esp_id: m.esp_name for m in self.api.members()}
        except (requests.RequestException, ET.ParseError, ValueError, IndexError) as exc:
            log.info("ncmec: members not listed (%s); ids only", _plain(exc))
            return {}

    def _member_name(self, entry: api.NCMECEntryUpdate) -> str:
        return self._members.get(entry.member_id, "") or str(entry.member_id)

    def send_vote(self, vote: Vote) -> bool:
        try:
            fingerprint_type = api.FingerprintType(vote.exchange_type)
        except ValueError:
            raise FeedbackRefused(f"NCMEC takes no feedback on {vote.exchange_type}") from None
        try:
            if vote.up:
                self.api.submit_upvote(int(vote.member_id), vote.external_id, fingerprint_type)
            else:
                reasons = self.api.feedback_reasons(fingerprint_type)
                guid = next((g for g, n in reasons.items() if n == vote.reason), None)
                if guid is None and len(reasons) == 1:
                    guid = next(iter(reasons))
                if guid is None:
                    raise FeedbackRefused(
                        f"NCMEC's reasons for a downvote are {', '.join(sorted(reasons.values()))}"
                        f"; got {vote.reason!r}"
                    )
                self.api.submit_feedback(
                    int(vote.member_id),
                    vote.external_id,
                    fingerprint_type,
                    api.FeedbackType.downvote,
                    guid,
                )
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if 400 <= status < 500 and status not in (401, 403, 408, 429):
                raise FeedbackRefused(f"NCMEC refused the feedback: HTTP {status}") from None
            raise ExchangeError(f"NCMEC did not take the feedback: HTTP {status}") from None
        except requests.RequestException as exc:
            raise ExchangeError(f"NCMEC did not answer: {_plain(exc)}") from None
        except ET.ParseError as exc:
            raise ExchangeError(f"NCMEC's answer is not XML ({exc})") from None
        return True

    def submit(self, submission: Submission) -> str:
        prints = {k: v for k, v in submission.fingerprints.items() if k in UPLOAD_TYPES}
        if not prints:
            raise SubmissionRefused("nothing to upload: no fingerprint NCMEC takes")
        try:
            return self.api.upload(Submission(prints, submission.classification))
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if 400 <= status < 500 and status not in (401, 403, 408, 429):
                raise SubmissionRefused(f"NCMEC refused the upload: HTTP {status}") from None
            raise ExchangeError(f"NCMEC did not take the upload: HTTP {status}") from None
        except requests.RequestException as exc:
            raise ExchangeError(f"NCMEC did not answer: {_plain(exc)}") from None
        except (ET.ParseError, IndexError, ValueError, KeyError, AssertionError) as exc:
            raise ExchangeError(f"NCMEC's answer to the upload cannot be read ({exc!r})") from None
