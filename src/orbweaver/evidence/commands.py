"""`orbweaver evidence keygen | export NOTICE_ID DIR | verify DIR | prune`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from orbweaver.clock import Clock
    from orbweaver.store import Store

evidence_app = typer.Typer(
    help="Evidence: WARC records of detections, signed bundles per notice, retention.",
    no_args_is_help=True,
)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _context() -> tuple[Store, Clock]:
    from orbweaver.clock import clock_from_url
    from orbweaver.config import get_settings
    from orbweaver.store import open_store

    return open_store(), clock_from_url(get_settings().clock_url or None)


@evidence_app.command("keygen")
def keygen() -> None:
    """Print a new Ed25519 signing key (for ORBWEAVER_EVIDENCE_SIGNING_KEY) and, on stderr,
    its public key, which verifiers are given out of band."""
    from orbweaver.evidence.bundle import new_signing_key, public_key_text, signing_key

    key = new_signing_key()
    typer.echo(key)
    typer.echo(f"public key: {public_key_text(signing_key(key))}", err=True)


@evidence_app.command("export")
def export(
    notice_id: int = typer.Argument(..., help="The notice (`orbweaver notices`)."),
    directory: Path = typer.Argument(..., help="Where to write the bundle."),
) -> None:
    """Write a notice's evidence bundle: evidence.warc.gz, manifest.json (sha256 of every
    record, the notice, its detections, the times) and manifest.sig (Ed25519). Audited."""
    from orbweaver.evidence.bundle import EvidenceError, export_bundle
    from orbweaver.evidence.settings import EvidenceSettings

    store, clock = _context()
    key = EvidenceSettings().evidence_signing_key
    try:
        with store.session() as session:
            manifest = export_bundle(
                session,
                clock,
                notice_id,
                directory,
                key,
                actor=f"cli:{_user()}",
            )
    except EvidenceError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"wrote {len(manifest['records'])} record(s), {manifest['warc']['bytes']} bytes, "
        f"to {directory}; signed by {manifest['public_key']}"
    )


@evidence_app.command("verify")
def verify(
    directory: Path = typer.Argument(..., help="A bundle written by `evidence export`."),
    public_key: str = typer.Option(
        "", "--public-key", help="The deployment's public key (default: this deployment's)."
    ),
) -> None:
    """Check a bundle's signature, its WARC file and every record's hash; exit 1 if any
    differs."""
    from orbweaver.evidence.bundle import public_key_text, signing_key, verify_bundle
    from orbweaver.evidence.settings import EvidenceSettings

    own = EvidenceSettings().evidence_signing_key
    key = public_key or (public_key_text(signing_key(own)) if own else "")
    result = verify_bundle(directory, key)
    for problem in result.problems:
        typer.echo(f"FAIL {problem}", err=True)
    if not result.ok:
        raise typer.Exit(1)
    typer.echo(f"OK {result.records} record(s); signed by {result.key} ({result.key_source})")


@evidence_app.command("prune")
def prune() -> None:
    """Apply retention: delete evidence records older than their kind's period (not those a
    hold covers; hashes and sizes stay) and anonymise old messages' contacts. Audited."""
    from orbweaver.evidence.retention import prune as run
    from orbweaver.evidence.settings import EvidenceSettings

    store, clock = _context()
    with store.session() as session:
        stats = run(session, clock, EvidenceSettings(), actor=f"cli:{_user()}")
    typer.echo(
        f"pruned {stats.pruned} record(s) ({stats.pruned_bytes} bytes), kept on hold "
        f"{stats.kept_on_hold}, contacts anonymised {stats.contacts_anonymised}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(evidence_app, name="evidence")
