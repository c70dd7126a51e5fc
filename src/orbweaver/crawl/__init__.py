"""The crawl stage (docs/architecture.md): seeds → Scrapy → sightings, detections, suspects in
the store.

One crawl round against the simulated world
-------------------------------------------
Scrapy's Twisted reactor starts once per process, so a caller that wants *repeated* rounds (the
demo, the end-to-end tests) runs each round as a subprocess; `run_crawl` in this process is fine
for exactly one round (it is what `orbweaver crawl` calls)::

    env = {
        "ORBWEAVER_DATABASE_URL": db_url,
        "ORBWEAVER_DATA_DIR": data_dir,
        "ORBWEAVER_SUSPECT_KEY": key,                      # else suspects are not kept
        "ORBWEAVER_DNS_SERVERS": info["dns"],               # world names resolve here only
        "ORBWEAVER_TOR_PROXY": info["tor_proxy"],           # .onion goes through it, only it
        "ORBWEAVER_CRAWL_ALLOW_NETWORKS": ",".join(info["allow_networks"]),
        "ORBWEAVER_CRAWL_PORT_MAP": f"80={info['http_port']}",  # world URLs carry no port
        "ORBWEAVER_CLOCK_URL": info["clock"],               # sightings and re-crawls in world time
    }
    subprocess.run([sys.executable, "-m", "orbweaver.cli", "crawl", *seed_urls,
                    "--until-idle", "--no-progress", "--no-jobdir",
                    "--recrawl-every", "86400", "--log-level", "WARNING"], env=env, check=True)

Import the world's bank first (`banks.create_bank` + `banks.import_csv` of
`info["known_hashes_csv"]`) or nothing is a detection. Seeds are recorded once; a later round
with no URLs fetches the seeds not yet reached plus every page whose re-crawl is due *by the
world's clock at the start of the round* (advance the world between rounds to find new uploads).

`--until-idle` is what makes a round end: the spider closes once its queue is empty. Due
re-crawls are read only when the round starts, so a round always ends even if more re-crawls fall
due while it runs (they wait for the next round). Without `--until-idle` the crawler is a daemon:
when idle it polls the store for new reports and due re-crawls and never exits by itself.

Cost: `scenarios/small.toml` at scale 0.5 (≈70 requests, 36 media incl. an encrypted archive
whose password is on the onion forum) takes about 6 s per round on a loaded 2-core machine, of
which about 3 s is interpreter and Scrapy start-up; the crawl itself is ~2.5 s.
`--no-jobdir` keeps the frontier in memory (a round re-fetches what a re-crawled page links,
which is what finds re-uploads); keep the default JOBDIR for a long crawl that must resume.

Public surface (other stages and the composition root import these from `orbweaver.crawl`):
`run_crawl` and its `CrawlOptions`, `CrawlSettings`, `CrawlSummary`, `index_loaded` (the
crawl role's readiness), and `add_seeds` (reports and seeds: the CLI's `submit` and the public
report form record them alike). Nothing is imported until used (`orbweaver._lazy`): Scrapy
loads with the first crawl, not with `orbweaver --help`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.crawl.frontier import add_seeds
    from orbweaver.crawl.metrics import index_loaded
    from orbweaver.crawl.options import CrawlOptions
    from orbweaver.crawl.runner import CrawlSummary, run_crawl
    from orbweaver.crawl.settings import CrawlSettings
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".frontier": ["add_seeds"],
            ".metrics": ["index_loaded"],
            ".options": ["CrawlOptions"],
            ".runner": ["CrawlSummary", "run_crawl"],
            ".settings": ["CrawlSettings"],
        },
    )

__all__ = [
    "CrawlOptions",
    "CrawlSettings",
    "CrawlSummary",
    "add_seeds",
    "index_loaded",
    "run_crawl",
]
