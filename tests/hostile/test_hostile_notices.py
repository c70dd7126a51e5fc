"""X-ARF reports and e-mails composed with hostile provider data (names from RDAP, member
paths from archives, hosts and URLs from pages): every report validates against the X-ARF v4
schemas (the repository's copy and, where the checkout has it, the peer's in ../shared), every
message builds with one-line headers, and the evidence CSV keeps one row per file."""

from __future__ import annotations

import csv
import email
import io
import json
from base64 import b64decode
from datetime import datetime
from pathlib import Path

import pytest

from orbweaver.notices import validation_errors
from orbweaver.notices.compose import build_email, compose_letter, digest_letter
from orbweaver.notices.xarf import Contact, ItemHashes, ReportInput, compose_report

HERE = Path(__file__).resolve()
SCHEMAS = [HERE.parents[1] / "data" / "xarf" / "schemas" / "v4"]
PEER = HERE.parents[3] / "shared" / "peer" / "xarf" / "schemas" / "v4"
if PEER.is_dir():
    SCHEMAS.append(PEER)

HOSTILE = {
    "crlf-header-injection": "Evil\r\nBcc: victim@elsewhere.test",
    "nul-and-escape": "Host\x00\x1b[2J\x07",
    "unicode-line-separators": "A\u2028B\u2029C\x85D",
    "bidi-override": "\u202egnitsoh\u202c Ltd",
    "zero-width": "Ho\u200bst\ufeff",
    "formula": '=HYPERLINK("http://evil.test","x")',
    "mathtext": "$\\frac{a}{$",
    "html": "<script>alert(1)</script>",
    "huge-100k": "N" * 100_000,
    "emoji-flood": "\U0001f600" * 5_000,
    "only-controls": "\r\n\t\x00",
    "comma-quote-newline": 'a,"b"\nc,d',
}


def _input(text: str) -> ReportInput:
    item = ItemHashes("a" * 64, "b" * 40, "c" * 32, "d" * 64, "csam_prepubescent", member_path=text)
    return ReportInput(
        report_id="12345678-1234-4234-9234-123456789abc",
        url="http://files.test/set.zip",
        host="files.test",
        kind="archive",
        category="csam_prepubescent",
        items=[item, ItemHashes("e" * 64, "f" * 40, "0" * 32, None, "csam_postpubescent")],
        first_seen=datetime(2021, 1, 1),
        last_seen=datetime(2021, 1, 2),
        reporter=Contact("hotline", "reports@hotline.test", "hotline.test"),
        source_identifier="127.0.0.1",
        hosting_provider=text,
        asn=64512,
    )


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_name_still_makes_a_valid_report_and_a_sendable_mail(name: str) -> None:
    text = HOSTILE[name]
    data = _input(text)
    report = compose_report(data)
    for schemas in SCHEMAS:
        assert validation_errors(report, schemas) == [], schemas
    assert "\n" not in report.get("hosting_provider", "") and "\r" not in json.dumps(
        report.get("hosting_provider", "")
    ).replace("\\r", "")
    evidence = b64decode(report["evidence"][0]["payload"]).decode()
    rows = list(csv.reader(io.StringIO(evidence)))
    assert len(rows) == 3  # header and one row per file, whatever the member path holds
    assert not rows[1][0].startswith(("=", "+", "@"))
    letter = compose_letter(data, text, downstream=text)
    digest = digest_letter(text, "2021-01-02", [(letter.subject, letter.body)])
    for subject, body in ((letter.subject, letter.body), (digest.subject, digest.body)):
        message = build_email(
            sender="reports@hotline.test",
            recipient="abuse@files.test",
            subject=subject,
            body=body,
            xarf=[report],
            message_id="<1@hotline.test>",
            date=datetime(2021, 1, 2),
        )
        parsed = email.message_from_bytes(message.as_bytes())
        assert parsed["Bcc"] is None and parsed["To"] == "abuse@files.test"
        assert "\n" not in str(parsed["Subject"]).replace("\n ", " ")
    assert "Dear " in letter.body and "\x00" not in letter.body and "\x1b" not in letter.body
