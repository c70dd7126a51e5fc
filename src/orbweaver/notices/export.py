"""Writing messages out to a folder (`orbweaver notices export`) without ever losing one.

A provider that takes daily digests has one outbox row a day with the same notice, kind, round
and provider; a name built from those alone made each day's digest overwrite the one before.
The outbox row's id is unique, so it is part of every name, and files are created exclusively:
an export never replaces a file that is already there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal


def export_name(
    outbox_id: int, notice_id: int | None, kind: str, round_: int, provider_id: int
) -> str:
    """A file name unique per outbox row (digests have no notice: `digest` stands in)."""
    notice = notice_id if notice_id is not None else "digest"
    return f"notice-{notice}-{kind}-{round_}-{provider_id}-{outbox_id}.json"


def write_new(path: Path, text: str) -> Literal["written", "same", "clash"]:
    """Create `path` with `text`, never overwriting: `same` when the file is already there
    with exactly this text (an export run twice), `clash` when something else is there."""
    data = text.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        try:
            return "same" if path.read_bytes() == data else "clash"
        except OSError:
            return "clash"
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return "written"
