"""Reading notices as providers get them: X-ARF v4 JSON in mail parts, or a webhook body.

A mail may carry one report (`application/json` part, conventionally `xarf.json`), several parts
(a digest), or a JSON array in one part. The world reads `url`, `report_id`, `type` and `tags`;
everything else in the report is kept only in the mailbox copy.
"""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Report:
    url: str
    report_id: str = ""
    type: str = ""
    tags: tuple[str, ...] = ()


def reports_from_json(data: Any) -> list[Report]:
    """One report, a list of reports, or {"reports": [...]}; entries without a url are skipped."""
    if isinstance(data, dict) and isinstance(data.get("reports"), list):
        data = data["reports"]
    items = data if isinstance(data, list) else [data]
    out = []
    for entry in items:
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            continue
        tags = entry.get("tags") or []
        out.append(
            Report(
                entry["url"],
                str(entry.get("report_id", "")),
                str(entry.get("type", "")),
                tuple(str(t) for t in tags if isinstance(t, str)),
            )
        )
    return out


def reports_from_mail(raw: bytes) -> list[Report]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out: list[Report] = []
    for part in msg.walk():
        if part.get_content_type() != "application/json" and not (
            part.get_filename() or ""
        ).endswith(".json"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            out.extend(reports_from_json(json.loads(payload)))
        except (ValueError, UnicodeDecodeError):
            continue
    return out
