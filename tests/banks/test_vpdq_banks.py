"""vPDQ in banks (issue 16): CSV import and export in python-threatexchange's text form, the
matcher's per-video candidates, and the `hash` / `match` commands' JSON on a video."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orbweaver.banks import create_bank, export_csv, import_csv
from orbweaver.banks.matcher import Matcher
from orbweaver.clock import SettableClock
from orbweaver.signals import compute_signals, format_vpdq, hash_video
from orbweaver.sim.videos import NEAR_DUPLICATES, SyntheticVideo, render_video
from orbweaver.store import Store

KNOWN = SyntheticVideo(seed=21, seconds=40.0, fps=4, width=192, height=144)
"""Forty seconds: a vPDQ far longer than any hash column held before (migration 0011)."""


@pytest.fixture(scope="module")
def known_bytes() -> bytes:
    return render_video(KNOWN)


@pytest.fixture(scope="module")
def known_vpdq(known_bytes: bytes) -> str:
    return format_vpdq(hash_video(known_bytes).features)


def bank_csv(*rows: tuple[str, str, str]) -> io.StringIO:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signal_type", "signal", "category", "source"])
    for signal_type, signal, category in rows:
        writer.writerow([signal_type, signal, category, "test"])
    return io.StringIO(out.getvalue())


def test_vpdq_entries_import_export_and_match(
    store: Store, clock: SettableClock, known_bytes: bytes, known_vpdq: str
) -> None:
    assert len(known_vpdq) > 2700  # over a PostgreSQL B-tree entry: the column is text now
    create_bank(store, clock, "videos")
    report = import_csv(store, clock, "videos", bank_csv(("vpdq", known_vpdq, "csam_prepubescent")))
    assert (report.added, report.errors) == (1, [])
    again = import_csv(store, clock, "videos", bank_csv(("vpdq", known_vpdq, "csam_prepubescent")))
    assert (again.added, again.duplicates) == (0, 1)
    out = io.StringIO()
    export_csv(store, "videos", out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1][:2] == ["vpdq", known_vpdq]

    matcher = Matcher(store)
    matcher.refresh()
    trimmed = compute_signals(render_video(KNOWN, NEAR_DUPLICATES[2]))
    (match,) = matcher.match(trimmed).matches
    assert match.signal_type == "vpdq" and match.category == "csam_prepubescent"
    assert match.video is not None and match.video.query_match_percent == 100.0
    assert match.video.compared_match_percent == pytest.approx(100 * 39 / 40)
    assert match.video.query_timestamps[:2] == (0.0, 1.0)
    other = compute_signals(render_video(SyntheticVideo(seed=22, seconds=3.0, fps=4)))
    assert matcher.match(other).matches == []


def test_the_matcher_probes_only_the_frames_a_match_needs(
    store: Store, clock: SettableClock, known_vpdq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only videos within the threshold (80% of the query's frames) are wanted, so the frame
    search gets that share and probes ⌊n/5⌋+1 frames (exact), not all n."""
    from orbweaver.signals import VpdqIndex

    create_bank(store, clock, "videos")
    import_csv(store, clock, "videos", bank_csv(("vpdq", known_vpdq, "csam_prepubescent")))
    shares: list[float] = []
    search_videos = VpdqIndex.search_videos

    def spy(self: VpdqIndex, query: str, *, min_query_percent: float = 0.0) -> object:
        shares.append(min_query_percent)
        return search_videos(self, query, min_query_percent=min_query_percent)

    monkeypatch.setattr(VpdqIndex, "search_videos", spy)
    matcher = Matcher(store)
    matcher.refresh()
    (match,) = matcher.match_near("vpdq", known_vpdq)
    assert match.video is not None and match.video.query_match_percent == 100.0
    assert shares == [80.0]


def test_a_bad_vpdq_row_is_reported_and_the_rest_imported(
    store: Store, clock: SettableClock, known_vpdq: str
) -> None:
    create_bank(store, clock, "videos")
    report = import_csv(
        store,
        clock,
        "videos",
        bank_csv(
            ("vpdq", '["nothex,100,0"]', "csam_prepubescent"),
            ("vpdq", known_vpdq, "csam_prepubescent"),
        ),
    )
    assert report.added == 1 and len(report.errors) == 1 and "vPDQ" in report.errors[0][1]


def test_hash_and_match_commands_on_a_video(
    store: Store,
    clock: SettableClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    known_bytes: bytes,
    known_vpdq: str,
) -> None:
    from orbweaver.cli import app

    video = tmp_path / "clip.mp4"
    video.write_bytes(render_video(KNOWN, NEAR_DUPLICATES[1]))  # resized copy
    result = CliRunner().invoke(app, ["hash", "--json", str(video)])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert set(line) == {"path", "media_type", "sha256", "sha1", "md5", "vpdq", "duration"}
    assert line["media_type"] == "video" and line["duration"] == 40.0
    assert len(line["vpdq"]) == 40
    assert set(line["vpdq"][0]) == {"timestamp", "pdq", "quality"}
    result = CliRunner().invoke(app, ["hash", "--json", "--vpdq-interval", "4", str(video)])
    assert [f["timestamp"] for f in json.loads(result.stdout)["vpdq"]] == [
        0,
        4,
        8,
        12,
        16,
        20,
        24,
        28,
        32,
        36,
    ]

    create_bank(store, clock, "videos")
    import_csv(store, clock, "videos", bank_csv(("vpdq", known_vpdq, "csam_prepubescent")))
    monkeypatch.setattr("orbweaver.store.open_store", lambda *a, **k: store)
    result = CliRunner().invoke(app, ["match", "--json", str(video)])
    assert result.exit_code == 0, result.output
    (match,) = json.loads(result.stdout)["matches"]
    assert match["signal_type"] == "vpdq"
    assert match["query_match_percent"] >= 80.0 and match["compared_match_percent"] >= 80.0
    assert len(match["matched_timestamps"]) >= 32
