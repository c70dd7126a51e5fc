"""`orbweaver demo [--scenario FILE] [--scale F] [--days N] [--seed S] [--out DIR]
[--queue fifo|priority|expected] [--analyst-capacity N] [--classifier-auc X]`."""

from __future__ import annotations

from pathlib import Path

import typer

from orbweaver.demo.run import DEFAULT_DAYS, DEFAULT_SCALE, DEFAULT_SCENARIO


def demo(
    scenario: Path = typer.Option(DEFAULT_SCENARIO, help="World scenario (TOML/YAML or CSV)."),
    scale: float = typer.Option(DEFAULT_SCALE, help="Scale of the scenario's volumes."),
    days: float = typer.Option(DEFAULT_DAYS, help="Simulated days to fast-forward."),
    seed: int = typer.Option(1, help="The world's random seed."),
    out: Path = typer.Option(Path("demo-out"), help="Folder for the store, report and truth."),
    crawl_every: float = typer.Option(5.0, help="Simulated days between crawl rounds."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Rich progress bar."),
    queue: str | None = typer.Option(
        None, help="Review queue order: fifo, priority or expected (default: the settings')."
    ),
    analyst_capacity: float | None = typer.Option(
        None,
        min=0.01,
        help="Assessments per analyst per simulated day (default: all that wait, after a crawl).",
    ),
    classifier_auc: float | None = typer.Option(
        None,
        min=0.5,
        max=1.0,
        help="Plug the world's oracle classifier of this AUC into the review queue.",
    ),
    leave_open: bool = typer.Option(
        True,
        "--leave-open/--review-all",
        help="Leave the last crawl's suspects open for a person at the console.",
    ),
    own_removal: float | None = typer.Option(
        None,
        min=0.0,
        help="Content goes offline on its own after its provider's removal delay times this "
        "(default: 1 with --analyst-capacity, else 0).",
    ),
) -> None:
    """Start the simulated world and run the whole product against it while its clock
    fast-forwards: crawl, match, review by simulated analysts, notices, follow-ups, re-checks.
    Ends with Table 1.0; writes OUT/report.json, OUT/truth.json, OUT/report.html and keeps the
    store as OUT/orbweaver.db (ORBWEAVER_DATABASE_URL=sqlite:///OUT/orbweaver.db)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from orbweaver.demo.run import (
        DemoOptions,
        console_lines,
        practice_line,
        review_line,
        run_demo,
    )
    from orbweaver.reports import print_table
    from orbweaver.review import ORDERS

    if queue is not None and queue not in ORDERS:
        raise typer.BadParameter(f"one of {', '.join(ORDERS)}", param_hint="--queue")

    console = Console(stderr=True)
    options = DemoOptions(
        scenario=scenario,
        scale=scale,
        days=days,
        seed=seed,
        out=out,
        crawl_every_days=crawl_every,
        progress=progress,
        queue=queue,
        analyst_capacity=analyst_capacity,
        classifier_auc=classifier_auc,
        own_removal=own_removal,
        leave_open=leave_open,
    )
    console.print(
        f"[bold]orbweaver demo[/]: world {scenario.name} at scale {scale:g}, {days:g} simulated "
        f"days, seed {seed} → {out}/ (first start of a world computes its fingerprints once)"
    )
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("day {task.completed:.1f}/{task.total:g}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not progress) as bar:
        task = bar.add_task("simulated time", total=days, status="starting the world")

        def on_progress(day: float, stats: dict[str, object]) -> None:
            status = (
                f"crawls {stats['crawl_rounds']} · notices {stats['notices_sent']} · "
                f"re-checks {stats['checks']} · assessments {stats['assessments']}"
            )
            bar.update(task, completed=min(day, days), status=status)

        result = run_demo(options, on_progress)
    print_table(result.report)
    console.print(practice_line(options))
    if options.backlog:
        console.print(review_line(result.review))
    stats = result.stats
    console.print(
        f"ran in {stats['seconds']}s ({stats['crawl_rounds']} crawl rounds, "
        f"{stats['notices_sent']} messages sent, {stats['checks']} re-checks, "
        f"{stats['assessments']} assessments)"
    )
    typer.echo(f"HTML report: {result.html}")
    typer.echo(f"JSON: {result.report_json} (truth: {result.truth_json})")
    typer.echo(f"store: ORBWEAVER_DATABASE_URL={result.database_url}")
    for line in console_lines(result.out, result.database_url):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add the demo command to the root app."""
    app.command("demo")(demo)
