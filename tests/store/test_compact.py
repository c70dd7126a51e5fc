"""The compact layout's housekeeping (issue 22): `maintain` compacts signal blocks (sorted,
deduplicated across batches), applies the seen-URL retention (daily partitions dropped on
PostgreSQL), and migration 0012 moves the old layout's unmatched rows into it."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import sqlalchemy as sa
from alembic import command

from orbweaver.store import (
    CompactSignals,
    CompactVideo,
    find_sha256,
    find_video,
    iter_signals,
    iter_videos,
    maintain,
    seen_urls,
    url_digest,
    write_seen,
    write_signals,
    write_videos,
)
from orbweaver.store.db import alembic_config
from orbweaver.store.models import CrawlHostDay, CrawlSeen, Media, MediaSignalBlock, Sighting


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def sig(name: str) -> CompactSignals:
    return CompactSignals.of(_hex(name, 64), _hex(name + "5", 32), _hex(name + "1", 40), None)


def test_compaction_deduplicates_across_batches(store, clock) -> None:
    with store.session() as s:
        write_signals(s, [sig(f"a{i}") for i in range(6)], clock.now())
        write_signals(s, [sig(f"a{i}") for i in range(3, 9)], clock.now())
    done = maintain(store, clock.now() + timedelta(seconds=1), 90)
    assert (done.signals_read, done.signals_kept) == (12, 9)
    with store.session() as s:
        write_signals(s, [sig("a1"), sig("b1")], clock.now())  # one known, one new
    done = maintain(store, clock.now() + timedelta(seconds=1), 90)
    assert (done.signals_read, done.signals_kept) == (2, 1)
    with store.session() as s:
        keys = sorted(r.sha256_prefix for r in iter_signals(s))
        assert len(keys) == len(set(keys)) == 10
        assert all(s.scalars(sa.select(MediaSignalBlock.compacted)))
        assert find_sha256(s, _hex("a7", 64)) == sig("a7")
        assert find_sha256(s, _hex("b1", 64)) == sig("b1")


def video(name: str, frames: int = 5) -> CompactVideo:
    return CompactVideo.of(
        _hex(name, 64), [(_hex(f"{name}{i}", 64), 90 - i, i * 1.0 + 0.033) for i in range(frames)]
    )


def test_video_frames_round_trip_and_compact_across_batches(store, clock) -> None:
    with store.session() as s:
        write_videos(s, [video(f"v{i}", frames=i + 1) for i in range(4)], clock.now())
        write_videos(s, [video(f"v{i}", frames=i + 1) for i in range(2, 6)], clock.now())
        assert find_video(s, _hex("v3", 64)) == video("v3", frames=4)  # loose blocks
    done = maintain(store, clock.now() + timedelta(seconds=1), 90)
    assert (done.videos_read, done.videos_kept) == (8, 6)
    with store.session() as s:
        write_videos(s, [video("v1", frames=2), video("w", frames=3)], clock.now())
    done = maintain(store, clock.now() + timedelta(seconds=1), 90)
    assert (done.videos_read, done.videos_kept) == (2, 1)
    with store.session() as s:
        kept = {v.sha256_prefix: v for v in iter_videos(s)}
        assert len(kept) == 7
        assert kept[bytes.fromhex(_hex("v5", 64))[:16]] == video("v5", frames=6)
        first = video("v0", frames=1).frames[0]
        assert first == (_hex("v00", 64), 90, 0.033)  # hex, quality, timestamp to the ms
        assert find_video(s, _hex("w", 64)) == video("w", frames=3)
        assert find_video(s, _hex("nope", 64)) is None


def test_seen_urls_expire_after_the_retention(store, clock) -> None:
    start = clock.now()
    maintain(store, start, 90)  # PostgreSQL: daily partitions for the week ahead
    with store.session() as s:
        write_seen(s, {"h.test": ["http://h.test/old.jpg"]}, start + timedelta(days=1))
        write_seen(s, {"h.test": ["http://h.test/new.jpg"]}, start + timedelta(days=60))
    later = start + timedelta(days=100)
    done = maintain(store, later, 90)
    if store.dialect == "postgresql":
        day = (start + timedelta(days=1)).strftime("%Y%m%d")
        assert f"crawl_seen_p{day}" in done.partitions_retired
        with store.engine.connect() as conn:
            assert not conn.scalar(
                sa.text("SELECT count(*) FROM pg_class WHERE relname = :n"),
                {"n": f"crawl_seen_p{day}"},
            )
    else:
        assert done.seen_rows_deleted == 1
    with store.session() as s:
        assert s.scalars(sa.select(CrawlSeen.url_hashes)).all() == [
            url_digest("http://h.test/new.jpg")
        ]
        since = later - timedelta(days=90)
        urls = ["http://h.test/old.jpg", "http://h.test/new.jpg"]
        assert seen_urls(s, "h.test", urls, since) == {"http://h.test/new.jpg"}


def test_migration_moves_the_old_layout(store, clock) -> None:
    """Old rows: an unmatched sighting on a clean host, its media shared with nothing; a
    detection (full record stays); an unmatched sighting on the detection's host (stays)."""
    cfg = alembic_config(store.url)
    command.downgrade(cfg, "0010_merge")
    now = clock.now().replace(tzinfo=None)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM alembic_version WHERE version_num <> '0010_merge'"))

        def media(name: str) -> int:
            return conn.execute(
                sa.text(
                    "INSERT INTO media (sha256, sha1, md5, pdq, pdq_quality, size_bytes, "
                    "first_seen_at) VALUES (:a, :b, :c, :d, 100, 10, :t) RETURNING id"
                ),
                {
                    "a": _hex(name, 64),
                    "b": _hex(name + "1", 40),
                    "c": _hex(name + "5", 32),
                    "d": _hex(name + "p", 64),
                    "t": now,
                },
            ).scalar_one()

        def sighting(media_id: int, host: str, name: str) -> int:
            return conn.execute(
                sa.text(
                    "INSERT INTO sighting (media_id, url, host, network, reached_from_tor, "
                    "seen_at) VALUES (:m, :u, :h, 'clear', false, :t) RETURNING id"
                ),
                {"m": media_id, "u": f"http://{host}/{name}.jpg", "h": host, "t": now},
            ).scalar_one()

        clean, known, other = media("clean"), media("known"), media("other")
        sighting(clean, "clean.test", "clean")
        detected = sighting(known, "bad.test", "known")
        sighting(other, "bad.test", "other")
        bank = conn.execute(
            sa.text(
                "INSERT INTO bank (name, enabled, pdq_threshold, description, created_at) "
                "VALUES ('b', true, 31, '', :t) RETURNING id"
            ),
            {"t": now},
        ).scalar_one()
        entry = conn.execute(
            sa.text(
                "INSERT INTO bank_entry (bank_id, signal_type, signal, category, source, "
                "added_at) VALUES (:b, 'sha256', :s, 'csam_prepubescent', '', :t) RETURNING id"
            ),
            {"b": bank, "s": _hex("known", 64), "t": now},
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO detection (sighting_id, bank_entry_id, signal_type, distance, "
                "category, detected_at) VALUES (:s, :e, 'sha256', 0, 'csam_prepubescent', :t)"
            ),
            {"s": detected, "e": entry, "t": now},
        )
    store.upgrade()
    with store.session() as s:
        assert sorted(s.scalars(sa.select(Sighting.url))) == [
            "http://bad.test/known.jpg",
            "http://bad.test/other.jpg",
        ]
        assert sorted(s.scalars(sa.select(Media.sha256))) == sorted(
            [_hex("known", 64), _hex("other", 64)]
        )
        found = find_sha256(s, _hex("clean", 64))
        assert found is not None and found.pdq == bytes.fromhex(_hex("cleanp", 64))
        day = now.date().isoformat()
        assert seen_urls(s, "clean.test", ["http://clean.test/clean.jpg"], now - timedelta(1))
        counts = {
            (r.host, r.day): (r.fetched, r.unmatched) for r in s.scalars(sa.select(CrawlHostDay))
        }
        assert counts == {("clean.test", day): (1, 1), ("bad.test", day): (2, 1)}


def test_db_maintain_command(sqlite_store, clock, monkeypatch) -> None:
    """`orbweaver db maintain`: the retention from settings, what it did on one line."""
    from typer.testing import CliRunner

    from orbweaver.cli import app

    with sqlite_store.session() as s:
        write_seen(s, {"h.test": ["http://h.test/a.jpg"]}, clock.now())  # 2021: long past
        write_signals(s, [sig("x")], clock.now())
    for key in [k for k in os.environ if k.startswith("ORBWEAVER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ORBWEAVER_DATABASE_URL", sqlite_store.url)
    monkeypatch.setenv("ORBWEAVER_SEEN_RETENTION_DAYS", "30")
    result = CliRunner().invoke(app, ["db", "maintain"])
    assert result.exit_code == 0, result.output
    assert "seen rows deleted 1, merged 0; signals compacted 1 -> 1" in result.output
    with sqlite_store.session() as s:
        assert s.scalars(sa.select(CrawlSeen)).all() == []
        assert find_sha256(s, _hex("x", 64)) == sig("x")


def test_seen_rows_stay_small(store, clock) -> None:
    """A host's URLs go in rows of at most 96 hashes (a longer row overflowed a page on SQLite
    and cost more than the hashes)."""
    urls = [f"http://h.test/{i}.jpg" for i in range(200)]
    with store.session() as s:
        write_seen(s, {"h.test": urls}, clock.now())
    with store.session() as s:
        sizes = sorted(s.scalars(sa.select(CrawlSeen.n)))
        assert sizes == [8, 96, 96]
        assert seen_urls(s, "h.test", urls, clock.now() - timedelta(days=1)) == set(urls)


def test_maintain_merges_a_days_seen_rows_per_host(store, clock) -> None:
    """One row a host and write batch costs its overhead (host, time, key, index entry) per
    batch: `maintain` merges the rows of a host and day into full rows, and every URL is still
    found; rows of another day or host are not merged into them."""
    now = clock.now()
    batches = [[f"http://h.test/{b}/{i}.jpg" for i in range(10)] for b in range(3)]
    with store.session() as s:
        for minute, urls in enumerate(batches):
            write_seen(s, {"h.test": urls}, now + timedelta(minutes=minute))
        write_seen(s, {"h.test": ["http://h.test/yesterday.jpg"]}, now - timedelta(days=1))
        write_seen(s, {"g.test": ["http://g.test/a.jpg"]}, now)
    done = maintain(store, now + timedelta(hours=1), 100_000)
    assert done.seen_rows_merged == 3
    with store.session() as s:
        rows = sorted((r.host, r.n) for r in s.scalars(sa.select(CrawlSeen)))
        assert rows == [("g.test", 1), ("h.test", 1), ("h.test", 30)]
        every = [u for urls in batches for u in urls] + ["http://h.test/yesterday.jpg"]
        assert seen_urls(s, "h.test", every, now - timedelta(days=2)) == set(every)
        assert seen_urls(s, "h.test", every, now) == set(every) - {"http://h.test/yesterday.jpg"}


def test_compaction_reads_only_the_blocks_a_new_key_may_be_in(store, clock, monkeypatch) -> None:
    """Compaction used to read every kept record on each run; now it reads the compacted
    blocks' ranges and Bloom filters, and the records only of blocks that may hold a new key:
    one duplicate among fresh keys reads its own block, not the other 19."""
    from orbweaver.store import compact

    monkeypatch.setattr(compact, "BLOCK_RECORDS", 16)
    with store.session() as s:
        write_signals(s, [sig(f"old{i}") for i in range(320)], clock.now())
    done = maintain(store, clock.now() + timedelta(seconds=1), 100_000)
    assert (done.signals_kept, done.signal_blocks_read) == (320, 0)
    with store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(MediaSignalBlock)) == 20
        write_signals(s, [sig("old7"), sig("new1"), sig("new2")], clock.now())
    done = maintain(store, clock.now() + timedelta(seconds=2), 100_000)
    assert (done.signals_read, done.signals_kept, done.signal_blocks_read) == (3, 2, 1)
    with store.session() as s:
        keys = [r.sha256_prefix for r in iter_signals(s)]
        assert len(keys) == len(set(keys)) == 322
        assert find_sha256(s, _hex("new2", 64)) == sig("new2")
        assert find_sha256(s, _hex("old7", 64)) == sig("old7")


def test_crawl_errors_add_up_per_day_and_kind(store, clock) -> None:
    """Crawl failures by kind (the console's crawl page): two processes' counts for the same
    day and kind add up (an upsert), another day is its own row."""
    from orbweaver.store import count_error_day
    from orbweaver.store.models import CrawlErrorDay

    now = clock.now()
    with store.session() as s:
        count_error_day(s, {"redirect_loop": 2, "oversize": 1, "timeout": 0}, now)
    with store.session() as s:
        count_error_day(s, {"redirect_loop": 3, "undecodable": 4}, now)
        count_error_day(s, {"redirect_loop": 1}, now + timedelta(days=1))
        count_error_day(s, {}, now)
    with store.session() as s:
        rows = {(r.day, r.kind): r.count for r in s.scalars(sa.select(CrawlErrorDay))}
    today, tomorrow = now.date().isoformat(), (now + timedelta(days=1)).date().isoformat()
    assert rows == {
        (today, "redirect_loop"): 5,
        (today, "oversize"): 1,
        (today, "undecodable"): 4,
        (tomorrow, "redirect_loop"): 1,
    }
