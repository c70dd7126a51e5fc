"""`orbweaver hash`: fingerprints of files, one JSON object per line (scripts depend on it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

PROGRESS_AFTER_S = 1.0
"""Show a progress bar (on stderr) only once the batch has taken this long."""


def hash_command(
    paths: list[Path] = typer.Argument(..., help="Files to fingerprint."),
    json_output: bool = typer.Option(
        True, "--json", help="One JSON object per line (the only format; accepted for scripts)."
    ),
    vpdq_interval: float = typer.Option(
        1.0, "--vpdq-interval", min=0.04, help="Seconds between a video's hashed frames."
    ),
) -> None:
    """Print sha256, sha1, md5 and PDQ (with its quality) of each file; for a video (MP4, MOV,
    WebM, Matroska, AVI, MPEG-TS), its vPDQ: one PDQ hash per second with quality and timestamp.

    A file that cannot be fingerprinted (empty, too large, not an image, broken, a decompression
    bomb) prints {"path", "error"}; the others are still processed, and the exit status is 1.
    """
    import json

    failed = 0
    with _LazyProgress(len(paths)) as progress:
        for path in paths:
            record = hash_record(path, vpdq_interval)
            failed += "error" in record
            typer.echo(json.dumps(record))
            progress.advance()
    raise typer.Exit(1 if failed else 0)


def hash_record(path: Path, vpdq_interval: float = 1.0) -> dict[str, Any]:
    """The JSON line for one file: its signals, or its error.

    A file that is not a picture has no PDQ; the contract promises a 64-hex `pdq`, so it is
    reported as an error (its crypto hashes are still available from `compute_signals`).
    """
    from orbweaver.signals import SignalError, VideoLimits, hash_path

    try:
        signals = hash_path(path, video_limits=VideoLimits(interval_s=vpdq_interval))
    except SignalError as exc:
        return {"path": str(path), "error": str(exc)}
    if signals.is_video:
        return video_record(path, signals)
    if signals.pdq is None:
        kind = signals.mime_type or "unknown type"
        return {"path": str(path), "error": f"not an image ({kind})"}
    return {
        "path": str(path),
        "sha256": signals.sha256,
        "sha1": signals.sha1,
        "md5": signals.md5,
        "pdq": signals.pdq,
        "pdq_quality": signals.pdq_quality,
        **signals.extra,  # any other registered type computed from the bytes or the picture
    }


def video_record(path: Path, signals: Any) -> dict[str, Any]:
    """A video's JSON line: exact hashes, one {timestamp, pdq, quality} per sampled frame, and
    its duration (issue 16's interface)."""
    from orbweaver.signals import VPDQ, parse_vpdq

    frames = parse_vpdq(signals.extra[VPDQ.name])
    return {
        "path": str(path),
        "media_type": "video",
        "sha256": signals.sha256,
        "sha1": signals.sha1,
        "md5": signals.md5,
        "vpdq": [{"timestamp": f.timestamp, "pdq": f.pdq, "quality": f.quality} for f in frames],
        "duration": signals.duration,
    }


class _LazyProgress:
    """A Rich progress bar on stderr that appears only when the work lasts over a second, so
    quick runs and stdout stay clean (Rich also hides it when stderr is not a terminal)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _LazyProgress:
        return self

    def advance(self) -> None:
        self.done += 1
        if self.bar is None and self.done < self.total:
            if time.monotonic() - self.started < PROGRESS_AFTER_S:
                return
            self._start()
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("hashing", total=self.total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("hash")(hash_command)
