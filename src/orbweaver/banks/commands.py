"""`orbweaver bank ...` and `orbweaver match`: manage hash lists and match files against them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

bank_app = typer.Typer(help="Hash lists: create, list, enable/disable, import, export.")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@bank_app.command("create")
def create(
    name: str,
    threshold: int = typer.Option(31, help="PDQ Hamming distance threshold for this bank."),
    description: str = typer.Option("", help="What this list is and where it comes from."),
) -> None:
    """Create an empty bank."""
    from orbweaver.banks import BankError, create_bank
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    try:
        create_bank(open_store(), SystemClock(), name, threshold=threshold, description=description)
    except BankError as exc:
        _fail(str(exc))
    typer.echo(f"created bank {name} (threshold {threshold})")


@bank_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """List banks with their state, threshold and size."""
    from orbweaver.banks import list_banks
    from orbweaver.store import open_store

    banks = list_banks(open_store())
    if as_json:
        for b in banks:
            typer.echo(json.dumps(b.__dict__))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("bank", "enabled", "threshold", "entries")
    for b in banks:
        table.add_row(b.name, "yes" if b.enabled else "no", str(b.threshold), f"{b.entries:,}")
    Console().print(table)


def _toggle(name: str, enabled: bool) -> None:
    from orbweaver.banks import BankError, set_enabled
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    try:
        set_enabled(open_store(), SystemClock(), name, enabled)
    except BankError as exc:
        _fail(str(exc))
    typer.echo(f"bank {name} {'enabled' if enabled else 'disabled'}")


@bank_app.command("enable")
def enable(name: str) -> None:
    """Match against this bank again."""
    _toggle(name, True)


@bank_app.command("disable")
def disable(name: str) -> None:
    """Stop matching against this bank (its entries are kept)."""
    _toggle(name, False)


@bank_app.command("threshold")
def threshold(name: str, value: int) -> None:
    """Change the bank's PDQ distance threshold."""
    from orbweaver.banks import BankError, set_threshold
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    try:
        set_threshold(open_store(), SystemClock(), name, value)
    except BankError as exc:
        _fail(str(exc))
    typer.echo(f"bank {name} threshold {value}")


@bank_app.command("import")
def import_(
    name: str,
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    fmt: str = typer.Option(
        "csv",
        "--format",
        help="csv (signal_type,signal,category,source), iwf (the IWF's hash list, CSV) or "
        "vics (Project VIC's VICS JSON): categories mapped, other columns kept as tags.",
    ),
    source: str = typer.Option("", help="The entries' source (iwf and vics; default the format)."),
) -> None:
    """Import a hash list; bad rows are reported by line and skipped."""
    from orbweaver.banks import BankError, import_list
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    try:
        with file.open(newline="", encoding="utf-8", errors="replace") as stream:
            report = import_list(open_store(), SystemClock(), name, stream, fmt=fmt, source=source)
    except BankError as exc:
        _fail(str(exc))
    for line, error in report.errors:
        typer.echo(f"{file}:{line}: {error}", err=True)
    typer.echo(
        f"imported into {name}: {report.added} added, {report.duplicates} already present, "
        f"{len(report.errors)} rejected"
    )


@bank_app.command("export")
def export(name: str) -> None:
    """Write the bank as CSV to standard output."""
    from orbweaver.banks import BankError, export_csv
    from orbweaver.store import open_store

    try:
        export_csv(open_store(), name, sys.stdout)
    except BankError as exc:
        _fail(str(exc))


def match(
    paths: list[Path] = typer.Argument(..., help="Files to match."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line (the default)."),
    dihedral: bool = typer.Option(False, help="Also match rotated and mirrored copies."),
) -> None:
    """Match files against every enabled bank; one JSON object per file on stdout."""
    from orbweaver.banks.matcher import Matcher
    from orbweaver.config import get_settings
    from orbweaver.signals import SignalError, hash_path, pdq_dihedral
    from orbweaver.store import open_store

    settings = get_settings()
    matcher = Matcher(open_store(), quality_min=settings.pdq_quality_min)
    matcher.refresh()
    failed = False
    for path in paths:
        try:
            signals = hash_path(path, max_bytes=settings.max_image_bytes)
            variants = pdq_dihedral(path.read_bytes()) if dihedral and signals.pdq else None
        except (SignalError, OSError) as exc:
            failed = True
            typer.echo(json.dumps({"path": str(path), "error": str(exc)}))
            continue
        result = matcher.match(signals, dihedral=variants)
        record: dict[str, object] = {
            "path": str(path),
            "matches": [_match_json(m) for m in result.matches],
        }
        for name, reason in result.skipped.items():  # `pdq_skipped`: low quality, no picture
            record[f"{name}_skipped"] = reason
        typer.echo(json.dumps(record))
    if failed:
        raise typer.Exit(1)


def _match_json(m: Any) -> dict[str, object]:
    """One match as the `match` command prints it; a vPDQ match adds both shares (percent)."""
    out: dict[str, object] = {
        "bank": m.bank,
        "category": m.category,
        "signal_type": m.signal_type,
        "distance": m.distance,
    }
    if m.video is not None:
        out["query_match_percent"] = m.video.query_match_percent
        out["compared_match_percent"] = m.video.compared_match_percent
        out["matched_timestamps"] = list(m.video.query_timestamps)
    return out


def register(app: typer.Typer) -> None:
    app.add_typer(bank_app, name="bank")
    app.command("match")(match)
