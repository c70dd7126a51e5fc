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
    negative: bool = typer.Option(
        False, "--negative", help="An allow-list: its matches suppress every positive match."
    ),
) -> None:
    """Create an empty bank."""
    from orbweaver.banks import BankError, create_bank
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    kind = "negative" if negative else "positive"
    try:
        create_bank(
            open_store(),
            SystemClock(),
            name,
            threshold=threshold,
            description=description,
            kind=kind,
        )
    except BankError as exc:
        _fail(str(exc))
    typer.echo(f"created {kind} bank {name} (threshold {threshold})")


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


@bank_app.command("set")
def set_(
    name: str,
    pdq_distance: int | None = typer.Option(None, help="PDQ match distance for this bank."),
    distance: list[str] = typer.Option(
        [], help="TYPE=N: match distance for another near signal type (repeatable)."
    ),
) -> None:
    """Set the bank's match distance per signal type (audited; in force at the next refresh)."""
    from orbweaver.banks import BankError, set_distance
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    wanted: list[tuple[str, int]] = [] if pdq_distance is None else [("pdq", pdq_distance)]
    for item in distance:
        kind, _, value = item.partition("=")
        if not value.strip().isdigit():
            _fail(f"--distance wants TYPE=N, got {item!r}")
        wanted.append((kind.strip().lower(), int(value)))
    if not wanted:
        _fail("nothing to set (--pdq-distance N or --distance TYPE=N)")
    store = open_store()
    for signal_type, n in wanted:
        try:
            set_distance(store, SystemClock(), name, signal_type, n)
        except BankError as exc:
            _fail(str(exc))
        typer.echo(f"bank {name}: {signal_type} distance {n}")


entry_app = typer.Typer(help="One bank entry: switch it off or on, release it from quarantine.")
bank_app.add_typer(entry_app, name="entry")


def _entry_toggle(entry_id: int, enabled: bool, reason: str) -> None:
    from orbweaver.banks import BankError, set_entry_enabled
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    try:
        set_entry_enabled(open_store(), SystemClock(), entry_id, enabled, reason=reason)
    except BankError as exc:
        _fail(str(exc))
    typer.echo(f"bank entry {entry_id} {'enabled' if enabled else 'disabled'}")


@entry_app.command("disable")
def entry_disable(
    entry_id: int, reason: str = typer.Option(..., help="Why (kept in the audit log).")
) -> None:
    """Stop one entry matching, without deleting it."""
    _entry_toggle(entry_id, False, reason)


@entry_app.command("enable")
def entry_enable(
    entry_id: int, reason: str = typer.Option(..., help="Why (kept in the audit log).")
) -> None:
    """Let a switched-off entry match again."""
    _entry_toggle(entry_id, True, reason)


@entry_app.command("release")
def entry_release(
    entry_id: int,
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
    keep_held: bool = typer.Option(
        False, help="Leave the detections held during the quarantine without notices."
    ),
) -> None:
    """Lift a flood quarantine; its held detections go on to notices unless --keep-held."""
    from orbweaver.banks import BankError, release_entry
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    try:
        n = release_entry(
            open_store(), SystemClock(), entry_id, reason=reason, unhold=not keep_held
        )
    except BankError as exc:
        _fail(str(exc))
    typer.echo(f"bank entry {entry_id} released ({n} held detections released)")


@bank_app.command("retro")
def retro(
    after_entry: int = typer.Option(..., help="Match stored media against entries above this id."),
) -> None:
    """Retroactive matching: stored media against the entries that arrived after an id."""
    from orbweaver.banks import match_new_entries
    from orbweaver.clock import SystemClock
    from orbweaver.config import get_settings
    from orbweaver.store import open_store

    report = match_new_entries(
        open_store(),
        SystemClock(),
        after_entry=after_entry,
        quality_min=get_settings().pdq_quality_min,
    )
    typer.echo(
        json.dumps(
            {
                "entries": report.entries,
                "media": report.media,
                "detections": report.detections,
                "leads": len(report.leads),
            }
        )
    )


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
    retro: bool = typer.Option(
        True, help="Match the media already stored against the new entries afterwards."
    ),
) -> None:
    """Import a hash list; bad rows are reported by line and skipped; stored media are then
    matched against the new entries."""
    from orbweaver.banks import BankError, import_list, match_new_entries
    from orbweaver.clock import SystemClock
    from orbweaver.config import get_settings
    from orbweaver.store import open_store

    store = open_store()
    try:
        with file.open(newline="", encoding="utf-8", errors="replace") as stream:
            report = import_list(store, SystemClock(), name, stream, fmt=fmt, source=source)
    except BankError as exc:
        _fail(str(exc))
    for line, error in report.errors:
        typer.echo(f"{file}:{line}: {error}", err=True)
    typer.echo(
        f"imported into {name}: {report.added} added, {report.duplicates} already present, "
        f"{len(report.errors)} rejected"
    )
    if retro and report.added:
        found = match_new_entries(
            store,
            SystemClock(),
            after_entry=report.after_entry,
            quality_min=get_settings().pdq_quality_min,
        )
        typer.echo(
            f"retroactive matching: {found.detections} new detections on {found.media} stored "
            f"media, {len(found.leads)} leads among compact records"
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
            "matches": _explained(matcher.store, result.matches),
        }
        if result.allowed_by:  # a negative bank overruled these
            record["allowed_by"] = _explained(matcher.store, result.allowed_by)
            record["suppressed"] = _explained(matcher.store, result.suppressed)
        for name, reason in result.skipped.items():  # `pdq_skipped`: low quality, no picture
            record[f"{name}_skipped"] = reason
        typer.echo(json.dumps(record))
    if failed:
        raise typer.Exit(1)


def _explained(store: Any, matches: list[Any]) -> list[dict[str, object]]:
    from orbweaver.banks import explain_matches

    return [
        _match_json(m, why) for m, why in zip(matches, explain_matches(store, matches), strict=True)
    ]


def _match_json(m: Any, explanation: dict[str, Any]) -> dict[str, object]:
    """One match as the `match` command prints it, with its explanation (bank, entry id,
    source, member and tags where known, signal type, distance); a vPDQ match adds both
    shares (percent)."""
    out: dict[str, object] = dict(explanation)
    if m.video is not None:
        out["query_match_percent"] = m.video.query_match_percent
        out["compared_match_percent"] = m.video.compared_match_percent
        out["matched_timestamps"] = list(m.video.query_timestamps)
    return out


def register(app: typer.Typer) -> None:
    app.add_typer(bank_app, name="bank")
    app.command("match")(match)
