"""The human side of a notice: subject, plain-text body, and the MIME message around the X-ARF.

The body is written for an abuse desk that reads it without tooling: what is at which URL, why
we believe it (hash match against a verified list), what we ask, and the reference to quote.
It never contains media, only URLs and hashes.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from typing import Any

from orbweaver.attribution import check_email
from orbweaver.categories import HARMFUL_ABUSIVE, LABELS
from orbweaver.notices.xarf import ItemHashes, ReportInput
from orbweaver.untrusted import one_line


@dataclass(frozen=True)
class Letter:
    subject: str
    body: str


def _subject(data: ReportInput, recipient_name: str) -> str:
    what = "harmful-abusive imagery" if data.category == HARMFUL_ABUSIVE else "CSAM"
    ref = data.report_id[:8]
    if data.escalation_level:
        return f"Escalation: {what} still online at {data.host}, hosted via you [ref {ref}]"
    if data.round > 1:
        return f"Follow-up {data.round - 1}: {what} still online at {data.host} [ref {ref}]"
    return f"Removal request: {what} at {data.host} [ref {ref}]"


def _ask(data: ReportInput, downstream: str | None) -> list[str]:
    if data.category == HARMFUL_ABUSIVE:
        ask = [
            "This material may not be illegal in every jurisdiction, but it depicts a child in",
            "an abusive or sexualised context. We ask you to remove it under your terms of",
            "service and to prevent its re-upload.",
        ]
    else:
        ask = [
            "This material is illegal. We ask you to remove it without delay, to prevent its",
            "re-upload, and to report it to the authority your law requires (e.g. NCMEC).",
        ]
    if data.escalation_level and downstream:
        ask += [
            "",
            f"We notified {downstream}, who serves this content through your network, and it",
            "is still online after repeated requests. Please have your customer act, or act",
            "yourself.",
        ]
    return ask


def _item_lines(items: list[ItemHashes]) -> list[str]:
    lines = []
    for it in items:
        where = f"  {one_line(it.member_path, max_length=300)}\n" if it.member_path else ""
        lines.append(f"{where}  sha256 {it.sha256}\n  md5 {it.md5}  ({LABELS[it.category]})")
    return lines


def compose_letter(data: ReportInput, recipient_name: str, downstream: str | None = None) -> Letter:
    """Subject and plain-text body for one round of a notice. Provider names come from RDAP:
    each is one printable line here (no forged lines in the letter)."""
    recipient_name = one_line(recipient_name)
    downstream = one_line(downstream) if downstream else downstream
    target = "The archive at" if data.kind == "archive" else "The file at"
    lines = [
        f"Dear {recipient_name} abuse team,",
        "",
        f"{target}",
        f"  {data.url}",
        f"was found by automated crawling on {data.first_seen:%Y-%m-%d %H:%M} UTC and last seen",
        f"online on {data.last_seen:%Y-%m-%d %H:%M} UTC. It matches, by hash, material that",
        "analysts verified as " + LABELS[data.category] + ".",
        "",
        *_ask(data, downstream),
        "",
        "Matched file(s) (hashes only; we never send media):",
        *_item_lines(data.items),
        "",
        f"Reference: {data.report_id} (round {data.round}). A machine-readable X-ARF v4",
        "report is attached as xarf.json. We re-check the URL and follow up while it stays",
        "online.",
        "",
        f"-- \n{data.reporter.org} <{data.reporter.contact}>",
    ]
    return Letter(subject=_subject(data, recipient_name), body="\n".join(lines) + "\n")


def build_email(
    *,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
    xarf: dict[str, Any] | list[dict[str, Any]],
    message_id: str,
    date: Any,
) -> Message:
    """The MIME message: text/plain body plus `xarf.json` (application/json); for a digest (a
    list of reports), one `application/json` part per report, `xarf-1.json`, `xarf-2.json`...,
    each a complete X-ARF v4 document that validates on its own.

    Built with the `email.mime` classes: the modern `EmailMessage` API spends ~4 ms a message in
    header policy machinery, ten times the rest of the send. Those classes do not refuse a line
    break in a header, so this does (ValueError): the recipient must be one bare mailbox and no
    header may hold a control character, whatever a stored row says.
    """
    msg = MIMEMultipart()
    msg["From"] = _header("From", sender)
    msg["To"] = check_email(recipient, "recipient")
    msg["Subject"] = _header("Subject", subject)
    msg["Message-ID"] = _header("Message-ID", message_id)
    msg["Date"] = format_datetime(date)
    msg["X-ARF"] = "PLEASE"
    msg.attach(MIMEText(body, "plain", "utf-8"))
    reports = xarf if isinstance(xarf, list) else [xarf]
    for i, report in enumerate(reports, 1):
        # base64: the evidence payload is one long line, beyond SMTP's 998-octet line limit
        part = MIMEApplication(json.dumps(report, indent=2).encode(), "json")
        name = f"xarf-{i}.json" if isinstance(xarf, list) else "xarf.json"
        part.add_header("Content-Disposition", "attachment", filename=name)
        msg.attach(part)
    return msg


def _header(name: str, value: str) -> str:
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise ValueError(
            f"{name} header holds a control character (U+{ord(bad):04X}): {value!r:.120}"
        )
    return value


def digest_letter(provider_name: str, day: str, members: list[tuple[str, str]]) -> Letter:
    """Subject and body of a provider's daily digest: each member's own letter, in order.

    `members` are (subject, body) of the notices it carries; the X-ARF parts follow in the same
    order (`xarf-1.json` is the first one listed). The provider's name is RDAP's: a control
    character in it made the subject refused at send time, every day, for good."""
    provider_name = one_line(provider_name)
    n = len(members)
    lines = [
        f"Dear {provider_name} abuse team,",
        "",
        f"As you asked, this is one message for {day} (UTC) listing the {n} removal request(s)",
        "open with you today: new ones, and follow-ups for content still online. Each is",
        f"attached as its own X-ARF v4 report (xarf-1.json ... xarf-{n}.json, in this order).",
    ]
    for i, (subject, body) in enumerate(members, 1):
        lines += ["", f"=== {i}/{n}: {subject} ===", "", body.rstrip("\n")]
    return Letter(
        subject=f"Daily digest {day}: {n} removal request(s) for {provider_name}",
        body="\n".join(lines) + "\n",
    )
