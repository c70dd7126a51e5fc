"""WARC records (warcio) of a detection: kind `page` (request and response, the HTML) and kind
`media` (request, and a metadata record with the response's status and headers and the
media's hashes and size: never the media's bytes). Each kind is one blob of gzip members, the
unit stored (`EvidenceRecord.warc`), hashed and pruned."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from orbweaver.evidence.capture import Exchange, PageCapture, header_pairs

# The body is stored decoded: a reader must not try to decode it again.
_RENAMED = {"content-encoding", "transfer-encoding"}


@dataclass(frozen=True)
class Blob:
    """One stored unit: its kind, URL, WARC bytes and their sha256."""

    kind: str
    url: str
    warc: bytes
    sha256: str


def _date(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _request_line(ex: Exchange) -> str:
    parts = urlsplit(ex.url)
    path = parts.path or "/"
    return f"{ex.method} {path}{'?' + parts.query if parts.query else ''} HTTP/1.1"


def _status_line(status: int) -> str:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"{status} {reason}"


def _response_pairs(ex: Exchange) -> list[tuple[str, str]]:
    return [
        (f"X-Archive-Orig-{k}" if k.lower() in _RENAMED else k, v)
        for k, v in header_pairs(ex.response_headers)
    ]


def _writer() -> tuple[io.BytesIO, WARCWriter]:
    buf = io.BytesIO()
    return buf, WARCWriter(buf, gzip=True)


def _request(w: WARCWriter, ex: Exchange, at: datetime) -> Any:
    headers = StatusAndHeaders(
        _request_line(ex), header_pairs(ex.request_headers), is_http_request=True
    )
    record = w.create_warc_record(
        ex.url,
        "request",
        payload=io.BytesIO(b""),
        http_headers=headers,
        warc_headers_dict={"WARC-Date": _date(at)},
    )
    w.write_record(record)
    return record


def page_blob(page: PageCapture, at: datetime) -> Blob:
    """The page's request and response (with its HTML) as one blob."""
    buf, w = _writer()
    ex = page.exchange
    request = _request(w, ex, at)
    extra = {"WARC-Date": _date(at)}
    extra["WARC-Concurrent-To"] = request.rec_headers.get_header("WARC-Record-ID")
    if page.truncated:
        extra["WARC-Truncated"] = "length"
    headers = StatusAndHeaders(_status_line(ex.status), _response_pairs(ex), protocol="HTTP/1.1")
    w.write_record(
        w.create_warc_record(
            ex.url,
            "response",
            payload=io.BytesIO(page.html),
            length=len(page.html),
            http_headers=headers,
            warc_headers_dict=extra,
        )
    )
    return _blob("page", ex.url, buf.getvalue())


def media_blob(ex: Exchange, facts: dict[str, Any], at: datetime) -> Blob:
    """The media fetch's request, and a metadata record: status, response headers, and the
    media's hashes and size (`facts`). No payload: the media's bytes are never written."""
    buf, w = _writer()
    request = _request(w, ex, at)
    meta = {
        "status": ex.status,
        "response_headers": _response_pairs(ex),
        **facts,
    }
    body = json.dumps(meta, sort_keys=True, indent=1).encode()
    w.write_record(
        w.create_warc_record(
            ex.url,
            "metadata",
            payload=io.BytesIO(body),
            length=len(body),
            warc_content_type="application/json",
            warc_headers_dict={
                "WARC-Date": _date(at),
                "WARC-Concurrent-To": request.rec_headers.get_header("WARC-Record-ID"),
            },
        )
    )
    return _blob("media", ex.url, buf.getvalue())


def _blob(kind: str, url: str, data: bytes) -> Blob:
    return Blob(kind, url, data, hashlib.sha256(data).hexdigest())


def _status(record: Any) -> int | None:
    if record.http_headers is None or record.rec_type != "response":
        return None
    return int(record.http_headers.get_statuscode())


def read_records(data: bytes) -> list[dict[str, Any]]:
    """The records of WARC bytes (type, target URI, HTTP status, payload length): for
    checks and the console; raises on bytes that are not WARC."""
    from warcio.archiveiterator import ArchiveIterator

    out = []
    for record in ArchiveIterator(io.BytesIO(data)):
        payload = record.content_stream().read()
        out.append(
            {
                "type": record.rec_type,
                "url": record.rec_headers.get_header("WARC-Target-URI"),
                "status": _status(record),
                "payload_bytes": len(payload),
                "payload": payload if record.rec_type == "metadata" else None,
            }
        )
    return out
