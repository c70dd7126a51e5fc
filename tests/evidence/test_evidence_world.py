"""Evidence end to end on the simulated world: the real crawler (in a subprocess, both the
Scrapy media path and `--media-workers`) writes WARC records for its detections only, never a
media payload; a notice's bundle exports, verifies, and a flipped byte is caught."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orbweaver.banks import create_bank, import_csv
from orbweaver.demo.run import product_env
from orbweaver.evidence import (
    new_signing_key,
    public_key_text,
    read_records,
    signing_key,
    verify_bundle,
)
from orbweaver.evidence.bundle import export_bundle
from orbweaver.net import GuardedFetcher, Resolver
from orbweaver.notices.runner import notify_pass
from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store import open_store
from orbweaver.store.models import Detection, EvidenceRecord, Media, Notice, Sighting
from orbweaver.store.vault import new_key
from takedown.helpers import world_policy
from takedown.test_world_notices import _product


@pytest.fixture
def world() -> Iterator[object]:
    from orbweaver.sim import World

    with World.start(SCENARIO_DIR / "small.toml", scale=0.5, seed=11) as w:
        yield w


def _crawl(env: dict[str, str], workers: int, *urls: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "orbweaver.cli",
        "crawl",
        *urls,
        "--until-idle",
        "--no-progress",
        "--no-jobdir",
        "--media-workers",
        str(workers),
        "--log-level",
        "WARNING",
    ]
    log = Path(env["ORBWEAVER_DATA_DIR"]).parent / "crawl.log"
    with open(log, "a") as out:
        run = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300)
    assert run.returncode == 0, log.read_text()[-3000:]


@pytest.mark.parametrize("workers", [0, 2])
def test_crawl_records_evidence_and_a_bundle_round_trips(
    world: object, tmp_path: Path, workers: int
) -> None:
    info = world.info  # type: ignore[attr-defined]
    db_url = f"sqlite:///{tmp_path / 'orbweaver.db'}"
    store = open_store(db_url)
    create_bank(store, world.clock, "world-known")  # type: ignore[attr-defined]
    with open(info["known_hashes_csv"]) as f:
        import_csv(store, world.clock, "world-known", f)  # type: ignore[attr-defined]
    _crawl(product_env(info, db_url, tmp_path / "data", new_key()), workers, *info["seeds"])

    with store.session() as s:
        detected = set(s.scalars(select(Detection.sighting_id)))
        sightings = s.scalar(select(func.count()).select_from(Sighting))
        rows = s.scalars(select(EvidenceRecord)).all()
        media_sha = set(s.scalars(select(Media.sha256)))
        assert detected and sightings > len(detected)  # benign media too: no evidence for them
        assert {r.sighting_id for r in rows} == detected  # detections only, every one
        assert {r.sighting_id for r in rows if r.kind == "media"} == detected
        with_page = {r.sighting_id for r in rows if r.kind == "page"}
        assert len(with_page) >= 0.9 * len(detected), (len(with_page), len(detected))
        for r in rows:
            assert r.warc is not None and hashlib.sha256(r.warc).hexdigest() == r.sha256
            records = read_records(r.warc)
            types = [x["type"] for x in records]
            if r.kind == "media":
                assert types == ["request", "metadata"]  # never a response with the bytes
            else:
                assert types == ["request", "response"] and records[1]["status"] == 200
                assert records[1]["payload_bytes"] > 0  # the page's HTML
            for x in records:
                payload = x["payload"] or b""
                assert hashlib.sha256(payload).hexdigest() not in media_sha

    attributor, settings, transport = _product(world, tmp_path)
    fetcher = GuardedFetcher(world_policy(info, timeout=10), Resolver([info["dns"]], cache_ttl=0))
    notify_pass(store, world.clock, attributor, settings, transport, fetcher=fetcher)  # type: ignore[attr-defined]
    key = new_signing_key()
    with store.session() as s:
        notice_id = s.scalars(select(Notice.id).where(Notice.kind == "media")).first()
        assert notice_id is not None
        manifest = export_bundle(s, world.clock, notice_id, tmp_path / "b", key, actor="t")  # type: ignore[attr-defined]
    assert manifest["notice"]["id"] == notice_id and manifest["detections"]
    assert {r["kind"] for r in manifest["records"]} == {"page", "media"}
    public = public_key_text(signing_key(key))
    assert verify_bundle(tmp_path / "b", public).ok
    assert not verify_bundle(tmp_path / "b", public_key_text(signing_key(new_signing_key()))).ok
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "orbweaver.cli",
            "evidence",
            "verify",
            str(tmp_path / "b"),
            "--public-key",
            public,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    warc = tmp_path / "b" / "evidence.warc.gz"
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte, one bit
    warc.write_bytes(bytes(data))
    result = verify_bundle(tmp_path / "b", public)
    assert not result.ok and any("sha256 differs" in p for p in result.problems)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "orbweaver.cli",
            "evidence",
            "verify",
            str(tmp_path / "b"),
            "--public-key",
            public,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "FAIL" in bad.stderr
    store.dispose()
