"""`orbweaver exchange fetch` killed (SIGKILL) mid-fetch loses nothing: the next fetch resumes
after the last page it stored, and asks for none of those again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from orbweaver.clock import SettableClock
from orbweaver.exchanges import fetch
from orbweaver.sim.hashsharing import HashSharing, Server
from orbweaver.store import open_store
from orbweaver.store.models import BankEntry, Exchange

from .helpers import START, client, config, pdq, share


def test_a_killed_fetch_process_resumes_after_its_last_page(tmp_path: Path) -> None:
    svc = HashSharing(page_size=5, page_delay_s=0.4)
    share(svc, 60)
    url = f"sqlite:///{tmp_path / 'ow.db'}"
    store = open_store(url)
    with Server(svc) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
        env.update(
            ORBWEAVER_DATABASE_URL=url,
            ORBWEAVER_SERVICE_ALLOW_NETWORKS="127.0.0.0/8",
            ORBWEAVER_EXCHANGE=json.dumps(
                {
                    "ncmec": {
                        "kind": "ncmec",
                        "bank": "ncmec",
                        "url": server.url,
                        "user": "orbweaver",
                    }
                }
            ),
            ORBWEAVER_EXCHANGE_CREDENTIALS=json.dumps({"ncmec": f"orbweaver:{svc.password}"}),
        )
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "orbweaver"), "exchange", "fetch", "ncmec"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            stored = 0
            deadline = time.monotonic() + 60
            while stored < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
                with store.session() as s:
                    row = s.scalar(sa.select(Exchange))
                    stored = (
                        s.scalar(sa.select(sa.func.count()).select_from(BankEntry)) // 10
                        if row
                        else 0
                    )
        finally:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=30)
        assert stored >= 3, f"the fetch did not store three pages in time: {err.decode()[-2000:]}"
        assert proc.returncode == -signal.SIGKILL
        with store.session() as s:
            row = s.scalar(sa.select(Exchange))
            assert row is not None and "next" in row.checkpoint  # mid-window
            kept = s.scalar(sa.select(sa.func.count()).select_from(BankEntry))
        assert kept is not None and 0 < kept < 120
        svc.page_delay_s = 0
        clock = SettableClock(START)
        clock.set(START.replace(day=2))
        # the killed process's clock was the system's: the window it stored is resumed as is
        cfg, _ = config(server)
        report = fetch(store, clock, "ncmec", cfg, client(server))
        assert report.error == "" and report.complete
        assert report.entries == 60 - kept // 2  # only what was not stored
        with store.session() as s:
            signals = set(
                s.scalars(sa.select(BankEntry.signal).where(BankEntry.signal_type == "pdq"))
            )
        assert signals == {pdq(i) for i in range(1, 61)}
    store.dispose()
