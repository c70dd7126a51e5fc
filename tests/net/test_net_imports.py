"""Scrapy and Twisted stay inside the crawl: every other stage, the net layer and the CLI load
neither (a monitor, a notifier or the web server should not pay for a reactor, and cannot be
broken by one)."""

from __future__ import annotations

import json
import subprocess
import sys

STAGES = (
    "store",
    "signals",
    "banks",
    "net",
    "attribution",
    "notices",
    "monitor",
    "review",
    "reports",
    "web",
)

CHILD = """
import importlib, json, pkgutil, sys
names = []
for stage in sys.argv[1:]:
    package = importlib.import_module("orbweaver." + stage)
    names.append(package.__name__)
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".migrations" not in info.name:  # Alembic scripts run only inside Alembic
            names.append(info.name)
for name in names:
    importlib.import_module(name)
importlib.import_module("orbweaver.cli")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("scrapy", "twisted"))
print(json.dumps({"modules": names, "loaded": loaded}))
"""


def test_no_stage_but_the_crawl_loads_scrapy_or_twisted() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *STAGES], capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout.splitlines()[-1])
    assert found["loaded"] == []
    # the check covered every module of each stage, not only the packages' __init__
    assert {"orbweaver.net.fetch", "orbweaver.monitor.service", "orbweaver.web.app"} <= set(
        found["modules"]
    )
    assert "orbweaver.attribution.rdap" in found["modules"]
