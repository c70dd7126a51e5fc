"""Failures by kind reach the store (issue 20: the console's crawl page shows them): the store
writer adds the process's counts with its batch, and keeps them when the batch fails."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from scrapy.exceptions import IgnoreRequest
from twisted.internet.defer import CancelledError

from orbweaver.crawl import metrics
from orbweaver.crawl.metrics import PrometheusStats, failure_kind, take_errors
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.writer import SightingWriter
from orbweaver.net import FetchError, PolicyError
from orbweaver.store.models import CrawlErrorDay


def test_failures_are_named_by_what_failed() -> None:
    redirect = IgnoreRequest("max redirections reached")
    assert failure_kind(redirect) == "redirect_loop"
    assert failure_kind(PolicyError("too many redirects")) == "redirect_loop"
    oversize = CancelledError(
        "Cancelling download of http://x/a.jpg: expected response size (10) larger than "
        "download max size (5)."
    )
    assert failure_kind(oversize) == "oversize"
    assert failure_kind(FetchError("larger than 5 bytes", 200)) == "oversize"
    assert failure_kind(IgnoreRequest("policy refused: 10.0.0.1 is internal")) == "policy_refused"
    assert failure_kind(FetchError("took longer than the policy's timeout")) == "timeout"
    assert failure_kind(IgnoreRequest("x"), 404) == "http_404"


def test_the_writer_stores_error_kinds_and_keeps_them_when_it_fails(sqlite_store, clock) -> None:
    take_errors()
    from scrapy.utils.test import get_crawler

    stats = PrometheusStats(get_crawler())
    stats.inc_value("orbweaver/errors")  # generic: its kind comes as failed/<kind>
    stats.inc_value("orbweaver/failed/redirect_loop")
    stats.inc_value("orbweaver/undecodable", 2)
    stats.inc_value("orbweaver/pages", 5)  # work, not an error
    writer = SightingWriter(sqlite_store, clock, CrawlOptions(), "", lambda k, n: None)

    def broken(*args: object) -> None:
        raise RuntimeError("store refused")

    real, writer._write = writer._write, broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        writer.write([])
    assert metrics.errors_pending()  # kept for the next batch
    writer._write = real  # type: ignore[method-assign]
    writer.write([])
    assert not metrics.errors_pending()
    with sqlite_store.session() as s:
        rows = {r.kind: r.count for r in s.scalars(sa.select(CrawlErrorDay))}
    assert rows == {"redirect_loop": 1, "undecodable": 2}
