"""`orbweaver report`: Figure 1.0 and Table 1.0 from what this deployment observed."""

from __future__ import annotations

from pathlib import Path

import typer


def print_table(report: object) -> None:
    """Table 1.0 on the terminal, with the censoring that every figure carries."""
    from rich.console import Console
    from rich.table import Table

    from orbweaver.reports.tables import Report

    assert isinstance(report, Report)
    table = Table(title="Table 1.0 — removal time and recidivism per provider")
    for column in ("provider", "type", "targeted", "median d", "p90 d", "recidivism", "online"):
        table.add_column(column, justify="left" if column in ("provider", "type") else "right")
    for row in report.providers:
        table.add_row(
            row.name,
            row.service_type,
            f"{row.targeted:,}",
            row.removal.display("median"),
            row.removal.display("p90"),
            f"{100 * (row.recidivism_rate or 0):.1f}%",
            f"{row.removal.censored:,}",
        )
    overall = report.overall
    table.add_section()
    table.add_row(
        "all providers",
        "",
        f"{overall.targeted:,}",
        overall.removal.display("median"),
        overall.removal.display("p90"),
        f"{100 * (overall.recidivism_rate or 0):.1f}%",
        f"{overall.removal.censored:,}",
    )
    console = Console()
    console.print(table)
    figure = report.figure_1_0()
    console.print(
        f"detected {figure['verified_images_detected']:,} · targeted "
        f"{figure['verified_images_targeted_for_removal']:,} · suspects awaiting review "
        f"{figure['suspect_backlog']:,} · Tor-only {figure['tor_only_not_noticed']:,} · "
        f"removed before notice {figure['removed_before_notice']:,} · held "
        f"{figure['held_notices']:,} ({figure['held_days_total']} days) · still "
        f"online (censored) {100 * figure['censored_share']:.1f}% · re-checks "
        f"{figure['recheck_cadence']}"
    )


DEPRECATED_URLS = (
    "warning: `orbweaver report URL...` is deprecated and will be removed in the next release; "
    "use `orbweaver submit URL...` to record public reports"
)


def report(
    ctx: typer.Context,
    urls: list[str] | None = typer.Argument(
        None, help="Deprecated: use `orbweaver submit URL...` to record public reports."
    ),
    reporter: str = typer.Option("", help="Deprecated, with URLs: see `orbweaver submit`."),
    note: str = typer.Option("", help="Deprecated, with URLs: see `orbweaver submit`."),
    json_file: Path | None = typer.Option(None, "--json", help="Write the JSON contract here."),
    out: Path | None = typer.Option(None, help="Write report.json, CSV and HTML into this folder."),
    quiet: bool = typer.Option(False, help="Do not print Table 1.0."),
    organisation: str = typer.Option(
        "", help="The issuing organisation, named on the HTML report's first line."
    ),
) -> None:
    """Figure 1.0 and Table 1.0 (censoring-aware) from the configured store."""
    if urls:
        _submit_deprecated(ctx, urls, reporter, note)
        return
    from orbweaver.reports.load import load_inputs
    from orbweaver.reports.render import write_all, write_json
    from orbweaver.reports.tables import build_report
    from orbweaver.store import open_store

    built = build_report(load_inputs(open_store()))
    if json_file is not None:
        write_json(built, json_file)
    if out is not None:
        from orbweaver.clock import SystemClock

        paths = write_all(built, out, organisation=organisation, generated_at=SystemClock().now())
        typer.echo(f"HTML report: {paths['html']}", err=quiet)
    if not quiet:
        print_table(built)


def _submit_deprecated(ctx: typer.Context, urls: list[str], reporter: str, note: str) -> None:
    """`report URL...`, kept for one release: says so on stderr, then runs `submit` with the
    same arguments, found by name in the running CLI (the crawl stage registers it), so the
    reports stage never imports crawl."""
    typer.echo(DEPRECATED_URLS, err=True)
    root = ctx.find_root()
    find = getattr(root.command, "get_command", None)  # the root is a group of commands
    submit = find(root, "submit") if callable(find) else None
    if submit is None:
        typer.echo("error: this orbweaver has no `submit` command", err=True)
        raise typer.Exit(2)
    args = ["--reporter", reporter, "--note", note, "--", *urls]
    with submit.make_context("submit", args, parent=root) as sub:
        submit.invoke(sub)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
