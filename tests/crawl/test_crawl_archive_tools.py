"""`unar` and `lsar` (the RAR fallback) are outside programs fed hostile archives (issue 14,
item 7): each run has a timeout after which it is killed and reaped, both its pipes are drained,
and an archive costs one extraction (plus one small probe per password), not one per member."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from rar4 import rar4

from orbweaver.signals import ArchiveLimits, ToolTimeout, unpack

RAR5_PSW = Path(__file__).parents[1] / "data" / "rar" / "rar5-psw.rar"
LINES = "".join(f"{i:03d}\n" for i in range(512)).encode()


def _shim(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("unar") is None or shutil.which("lsar") is None:
        pytest.skip("unar is not installed")
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return folder


@pytest.mark.timeout(120)
def test_a_hung_unar_flooding_stderr_is_killed_at_its_timeout(
    bin_dir: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "unar.pid"
    real_lsar = shutil.which("lsar", path="/usr/bin:/bin") or "/usr/bin/lsar"
    _shim(bin_dir, "lsar", f'exec {real_lsar} "$@"\n')
    # 1 MiB on stderr (16 times a pipe's buffer), nothing on stdout, then never ending
    _shim(
        bin_dir,
        "unar",
        f"echo $$ > {pid_file}\nhead -c 1048576 /dev/zero >&2\nexec sleep 600\n",
    )
    locked = rar4({"a.png": b"x" * 100, "b.png": b"y" * 50}, password="secret")
    started = time.monotonic()
    with pytest.raises(ToolTimeout, match="unar ran over 2 s, killed"):
        unpack(locked, passwords=["secret"], limits=ArchiveLimits(tool_timeout_s=2))
    assert time.monotonic() - started < 30
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(pid, 0)


def test_one_extraction_per_archive_and_one_probe_per_password(
    bin_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "unar.log"
    real_unar = shutil.which("unar", path="/usr/bin:/bin") or "/usr/bin/unar"
    _shim(bin_dir, "unar", f'echo "$*" >> {log}\nexec {real_unar} "$@"\n')
    result = unpack(RAR5_PSW.read_bytes(), passwords=["wrong", "also-wrong", "password"])
    assert result.password == "password"
    assert {m.path: m.data for m in result.members} == {"stest1.txt": LINES, "stest2.txt": LINES}
    runs = log.read_text().splitlines()
    full = [r for r in runs if " -i " not in f" {r} "]
    probes = [r for r in runs if " -i " in f" {r} "]
    assert len(full) == 1 and "-p password" in full[0]
    assert len(probes) == 3  # the smallest encrypted member, once per password tried


def test_the_archive_executor_is_apart_and_bounded() -> None:
    """The spider unpacks on its own pool, never the reactor's (DNS, store writes)."""
    from orbweaver.crawl.options import CrawlOptions
    from orbweaver.crawl.spider import OrbSpider

    spider = OrbSpider(starts=[])
    spider.options = CrawlOptions(archive_workers=3)
    pool = spider._archives()
    try:
        assert pool._max_workers == 3
        name = pool.submit(lambda: __import__("threading").current_thread().name).result()
        assert name.startswith("orbweaver-archive")
    finally:
        spider._close_archive_pool(spider)
