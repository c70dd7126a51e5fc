"""`orbweaver crawl`, `orbweaver submit`, `orbweaver sightings`, `orbweaver detections`."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _read_seed_file(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def crawl(
    urls: list[str] = typer.Argument(None, help="Seed URLs."),
    seeds: Path = typer.Option(None, "--seeds", help="File of seed URLs, one per line."),
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Stop when nothing is left to fetch."
    ),
    depth: int = typer.Option(
        None, help="Follow pages at most this many links from a seed [ORBWEAVER_CRAWL_DEPTH: 8]."
    ),
    max_pages_per_site: int = typer.Option(
        None, help="Page cap per host, media not counted [ORBWEAVER_CRAWL_MAX_PAGES_PER_SITE]."
    ),
    concurrency: int = typer.Option(
        None, help="Requests in flight in total [ORBWEAVER_CRAWL_CONCURRENCY: 64]."
    ),
    per_host: int = typer.Option(
        None, help="Requests in flight per host [ORBWEAVER_CRAWL_PER_HOST: 8]."
    ),
    delay: float = typer.Option(
        None, help="Seconds between requests to one host [ORBWEAVER_CRAWL_DELAY_S: 0]."
    ),
    autothrottle: bool = typer.Option(
        None, help="Adapt the per-host delay to server latency [ORBWEAVER_CRAWL_AUTOTHROTTLE]."
    ),
    recrawl_every: float = typer.Option(
        None,
        help="Seconds before a page with media is re-crawled "
        "[ORBWEAVER_CRAWL_RECRAWL_EVERY_S: 86400].",
    ),
    jobdir: Path = typer.Option(
        None, help="Frontier on disk for stop/restart (default: DATA_DIR/crawl-job)."
    ),
    no_jobdir: bool = typer.Option(False, "--no-jobdir", help="Keep the frontier in memory only."),
    redis_prefix: str = typer.Option(
        None, help="Redis key prefix of the shared frontier [ORBWEAVER_CRAWL_REDIS_PREFIX]."
    ),
    timeout: float = typer.Option(
        None, help="Seconds a whole download may take [ORBWEAVER_CRAWL_TIMEOUT_S: 30]."
    ),
    max_media_per_page: int = typer.Option(
        None,
        help="Media followed per page, more are logged [ORBWEAVER_CRAWL_MAX_MEDIA_PER_PAGE].",
    ),
    hash_processes: int = typer.Option(
        None,
        help="Processes that fingerprint media (-1: one per core; 0: threads in the crawler) "
        "[ORBWEAVER_CRAWL_HASH_PROCESSES: -1].",
    ),
    media_workers: int = typer.Option(
        None,
        help="Processes that fetch and fingerprint media outside the page crawl (-1: one per "
        "core; 0: media fetched inside it) [ORBWEAVER_CRAWL_MEDIA_WORKERS: 0].",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Rich progress on stderr."
    ),
    log_level: str = typer.Option("INFO", help="Scrapy log level."),
    log_file: str = typer.Option(None, help="Write the log here instead of stderr."),
) -> None:
    """Crawl from seeds (and pending reports and due re-crawls) into sightings, detections and
    suspects. With ORBWEAVER_REDIS_URL, processes on several machines share one frontier.
    Flags override the crawl settings (`orbweaver config show`) for this run."""
    from orbweaver.crawl.runner import run_crawl
    from orbweaver.roles import ProductSettings, build_crawl_options

    s = ProductSettings.load()
    app = s.core
    seed_urls = list(urls or [])
    source = "cli"
    if seeds is not None:
        seed_urls += _read_seed_file(seeds)
        source = "file" if not urls else "cli"
    flags = {
        "depth_limit": depth,
        "max_pages_per_site": max_pages_per_site,
        "concurrency": concurrency,
        "per_host_concurrency": per_host,
        "download_delay_s": delay,
        "autothrottle": autothrottle,
        "recrawl_interval_s": recrawl_every,
        "redis_prefix": redis_prefix,
        "timeout_s": timeout,
        "max_media_per_page": max_media_per_page,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    if hash_processes is not None:
        overrides["hash_processes"] = None if hash_processes < 0 else hash_processes
    if media_workers is not None:
        overrides["media_workers"] = None if media_workers < 0 else media_workers
    options = build_crawl_options(
        s,
        until_idle=until_idle,
        jobdir=None if no_jobdir or app.redis_url else (jobdir or app.data_dir / "crawl-job"),
        progress=progress,
        log_level=log_level,
        log_file=log_file,
        **overrides,
    )
    summary = run_crawl(seed_urls, options, app, seed_source=source)
    counts = {
        k: summary.count(k)
        for k in ("pages", "media", "sightings", "detections", "suspects", "errors")
    }
    typer.echo(
        json.dumps({"finish_reason": summary.stats.get("finish_reason"), **counts}), err=True
    )


def record_reports(urls: list[str], reporter: str = "", note: str = "") -> None:
    """Record reported URLs as seeds with their source; the next crawl fetches them."""
    from orbweaver.clock import clock_from_url
    from orbweaver.config import get_settings
    from orbweaver.crawl.frontier import add_seeds
    from orbweaver.store import open_store

    app = get_settings()
    added = add_seeds(
        open_store(),
        clock_from_url(app.clock_url),
        urls,
        source="report",
        reporter=reporter,
        note=note,
    )
    typer.echo(f"recorded {added} new report(s), {len(urls) - added} already known")


def submit(
    urls: list[str] = typer.Argument(..., help="URLs reported by the public."),
    reporter: str = typer.Option("", help="Who reported the URLs (kept with the report)."),
    note: str = typer.Option("", help="What the reporter said."),
) -> None:
    """Record URLs reported by the public as seeds; the next crawl fetches them."""
    record_reports(urls, reporter=reporter, note=note)


def _listing(rows: list[dict[str, object]], columns: list[str], as_json: bool) -> None:
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    Console().print(table)


def sightings(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    limit: int = typer.Option(100, help="Most recent first, at most this many."),
    host: str = typer.Option(None, help="Only this host."),
) -> None:
    """Media observed at URLs, most recent first."""
    from orbweaver.crawl.listing import list_sightings
    from orbweaver.store import open_store

    rows = list_sightings(open_store(), limit=limit, host=host)
    _listing(rows, ["id", "seen_at", "network", "url", "member_path", "sha256"], as_json)


def detections(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    limit: int = typer.Option(100, help="Most recent first, at most this many."),
) -> None:
    """Sightings that matched a bank entry, most recent first."""
    from orbweaver.crawl.listing import list_detections
    from orbweaver.store import open_store

    rows = list_detections(open_store(), limit=limit)
    _listing(
        rows, ["id", "detected_at", "bank", "category", "signal_type", "distance", "url"], as_json
    )


def media_dead_letters(
    replay: bool = typer.Option(
        False, "--replay", help="Put them back on the media queue (all, or the --id ones)."
    ),
    ids: list[str] = typer.Option(None, "--id", help="Only this dead letter (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Media URLs set aside because the store refused every batch they were in
    (ORBWEAVER_CRAWL_MEDIA_MAX_ATTEMPTS times): list them, or put them back on the media queue
    (the Redis Stream with ORBWEAVER_REDIS_URL, else the store's)."""
    import dataclasses

    from orbweaver.clock import clock_from_url
    from orbweaver.crawl.mediaqueue import media_queue
    from orbweaver.roles import ProductSettings
    from orbweaver.store import open_store

    s = ProductSettings.load()
    queue = media_queue(
        open_store(s.core.resolved_database_url),
        "cli",
        redis_url=s.core.redis_url,
        prefix=s.crawl.crawl_redis_prefix,
        clock=clock_from_url(s.core.clock_url),
    )
    if replay:
        count = queue.replay(list(ids) if ids else None)
        typer.echo(f"{count} media URL(s) put back on the media queue")
        return
    letters = [dataclasses.asdict(d) for d in queue.dead()]
    if ids:
        letters = [d for d in letters if str(d["id"]) in set(ids)]
    _listing(letters, ["id", "dead_at", "attempts", "url", "error"], as_json)


def register(app: typer.Typer) -> None:
    app.command("crawl")(crawl)
    app.command("submit")(submit)
    app.command("sightings")(sightings)
    app.command("detections")(detections)
    app.command("media-dead-letters")(media_dead_letters)
