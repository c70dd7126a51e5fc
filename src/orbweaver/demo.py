"""`orbweaver demo`: the main job on the embedded default.

Until the simulated internet and the crawl are wired in, the demo runs what exists end to end on
the PDQ reference images (benign pictures of a bridge): hash every image, bank the original as a
"known" entry, then match every variant — re-encoded, resized, blurred, rotated, mirrored —
against the bank, exactly as a crawler node would.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import typer

DEFAULT_IMAGES = Path("tests/data/pdq/images")


def demo(
    images: Path = typer.Option(DEFAULT_IMAGES, help="Folder of images to hash and match."),
    out: Path = typer.Option(Path("demo-out"), help="Folder for the run's store and results."),
) -> None:
    """Hash, bank and match the reference images; print what matched and why."""
    from rich.console import Console
    from rich.table import Table

    from orbweaver.banks import create_bank, import_csv
    from orbweaver.banks.matcher import Matcher
    from orbweaver.clock import SystemClock
    from orbweaver.signals import SignalError, hash_path, pdq_dihedral
    from orbweaver.store import open_store

    paths = sorted(p for p in images.rglob("*") if p.is_file())
    if not paths:
        raise typer.BadParameter(f"no images under {images}")
    out.mkdir(parents=True, exist_ok=True)
    db = out / "orbweaver.db"
    db.unlink(missing_ok=True)
    store = open_store(f"sqlite:///{db}")
    clock = SystemClock()
    console = Console()

    originals = [p for p in paths if "orig" in p.name] or paths[:1]
    create_bank(store, clock, "demo-known", threshold=31)
    rows = ["signal_type,signal,category,source"]
    for path in originals:
        sig = hash_path(path)
        rows += [
            f"sha256,{sig.sha256},csam_prepubescent,demo",
            f"pdq,{sig.pdq},csam_prepubescent,demo",
        ]
    import_csv(store, clock, "demo-known", io.StringIO("\n".join(rows) + "\n"))
    console.print(f"banked {len(originals)} original(s) as 'known' in {db}")

    matcher = Matcher(store)
    matcher.refresh()
    table = Table("image", "pdq quality", "match", "distance")
    results: list[dict[str, object]] = []
    for path in paths:
        try:
            sig = hash_path(path)
            variants = pdq_dihedral(path.read_bytes())
        except SignalError as exc:
            table.add_row(str(path.relative_to(images)), "-", f"error: {exc}", "-")
            continue
        result = matcher.match(sig, dihedral=variants)
        best = min(result.matches, key=lambda m: m.distance, default=None)
        label = f"{best.signal_type} in {best.bank}" if best else "no match"
        distance = str(best.distance) if best else "-"
        table.add_row(str(path.relative_to(images)), str(sig.pdq_quality), label, distance)
        results.append({"path": str(path), "matched": best is not None, "distance": distance})
    console.print(table)
    (out / "matches.json").write_text(json.dumps(results, indent=2))
    matched = sum(1 for r in results if r["matched"])
    console.print(f"{matched}/{len(results)} images matched the bank; results in {out}/")


def register(app: typer.Typer) -> None:
    """Add the demo command to the root app."""
    app.command("demo")(demo)
