"""vPDQ (issue 16): sniffing videos, hashing sampled frames, comparing and indexing them.

Every video is synthetic (orbweaver.sim.videos), generated here at test time, a few seconds and
a few tens of kilobytes: nothing is committed.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image

from orbweaver.signals import (
    VPDQ,
    SignalError,
    VideoLimits,
    VpdqFeature,
    VpdqIndex,
    compare_vpdq,
    compute_signals,
    format_vpdq,
    get_signal_type,
    hash_path,
    hash_video,
    is_video_mime,
    parse_vpdq,
)
from orbweaver.signals.sniff import sniff_mime
from orbweaver.signals.types.vpdq import prepare, vpdq_frames
from orbweaver.sim.videos import (
    NEAR_DUPLICATES,
    SyntheticVideo,
    VideoVariant,
    encode_frames,
    render_video,
)

VIDEO = SyntheticVideo(seed=11)


@pytest.fixture(scope="module")
def original() -> bytes:
    return render_video(VIDEO)


@pytest.fixture(scope="module")
def original_hash(original: bytes) -> list[VpdqFeature]:
    return list(hash_video(original).features)


def test_the_registry_knows_vpdq_with_python_threatexchange_defaults() -> None:
    kind = get_signal_type("vpdq")
    assert kind is VPDQ and not kind.exact
    assert kind.quality_floor == 50 and kind.default_threshold == 20  # 80% of the query


@pytest.mark.parametrize(
    ("container", "mime"),
    [
        ("mp4", "video/mp4"),
        ("mov", "video/quicktime"),
        ("webm", "video/webm"),
        ("mkv", "video/x-matroska"),
        ("avi", "video/x-msvideo"),
        ("ts", "video/mp2t"),
    ],
)
def test_sniffing_knows_every_video_container(container: str, mime: str) -> None:
    data = render_video(SyntheticVideo(seed=3, seconds=1.0, fps=6, container=container))
    assert sniff_mime(data) == mime and is_video_mime(mime)
    assert len(hash_video(data).features) == 1


def test_animated_gif_and_webp_stay_pictures() -> None:
    frames = [Image.new("RGB", (32, 32), (i * 60, 0, 0)) for i in range(3)]
    for fmt, mime in (("GIF", "image/gif"), ("WEBP", "image/webp")):
        out = io.BytesIO()
        frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100)
        signals = compute_signals(out.getvalue())
        assert signals.mime_type == mime and signals.pdq is not None
        assert not signals.is_video and "vpdq" not in signals.extra


def test_one_frame_a_second_with_quality_and_timestamp(original_hash: list[VpdqFeature]) -> None:
    assert [f.timestamp for f in original_hash] == [0.0, 1.0, 2.0, 3.0]
    assert all(f.quality >= 50 and len(f.pdq) == 64 for f in original_hash)
    assert len({f.pdq for f in original_hash}) == 4  # the scene changes: distinct frames


def test_the_sampling_interval_is_configurable(original: bytes) -> None:
    every_half = hash_video(original, interval=0.5).features
    assert [f.timestamp for f in every_half] == [i / 2 for i in range(8)]
    every_two = hash_video(original, interval=2.0).features  # seeks between samples
    assert [f.timestamp for f in every_two] == [0.0, 2.0]


@pytest.mark.parametrize("variant", NEAR_DUPLICATES, ids=lambda v: v.kind)
def test_near_duplicates_match(variant: VideoVariant, original_hash: list[VpdqFeature]) -> None:
    copy = hash_video(render_video(VIDEO, variant)).features
    result = compare_vpdq(copy, original_hash)
    assert result.is_match, result
    assert result.query_match_percent == 100.0


def test_unrelated_videos_do_not_match(original_hash: list[VpdqFeature]) -> None:
    for seed in (12, 13, 14):
        other = hash_video(render_video(SyntheticVideo(seed=seed))).features
        result = compare_vpdq(other, original_hash)
        assert not result.is_match and result.query_match_percent == 0.0


def test_a_trimmed_copy_reports_both_shares(original_hash: list[VpdqFeature]) -> None:
    trimmed = hash_video(render_video(VIDEO, VideoVariant("trim", trim_s=1.0))).features
    result = compare_vpdq(trimmed, original_hash)
    assert result.query_match_percent == 100.0 and result.compared_match_percent == 75.0
    backwards = compare_vpdq(original_hash, trimmed)
    assert backwards.query_match_percent == 75.0 and not backwards.is_match


def test_compute_signals_gives_a_video_its_vpdq_and_exact_hashes(original: bytes) -> None:
    signals = compute_signals(original)
    assert signals.is_video and signals.pdq is None and signals.mime_type == "video/mp4"
    assert signals.duration == 4.0 and (signals.width, signals.height) == (320, 240)
    assert parse_vpdq(signals.extra["vpdq"]) == list(hash_video(original).features)
    assert len(signals.sha256) == 64 and len(signals.sha1) == 40 and len(signals.md5) == 32


# --- the text form: python-threatexchange's ------------------------------------------------


def test_the_text_form_is_python_threatexchanges(original_hash: list[VpdqFeature]) -> None:
    text = format_vpdq(original_hash)
    items = json.loads(text)
    assert all(len(item.split(",")) == 3 for item in items)
    assert parse_vpdq(text) == original_hash
    # python-threatexchange writes timestamps with `:.3` (three significant digits)
    theirs = json.dumps([f"{'a' * 64},100,0.0", f"{'b' * 64},80,1.23e+02"])
    assert parse_vpdq(theirs)[1] == VpdqFeature("b" * 64, 80, 123.0)
    assert VPDQ.normalize(theirs) == format_vpdq(parse_vpdq(theirs))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "[]",
        "{}",
        '["abc,100,0"]',
        json.dumps(["a" * 64 + ",101,0"]),
        json.dumps(["a" * 64 + ",50,-1"]),
        json.dumps(["a" * 64 + ",50"]),
        json.dumps(["g" * 64 + ",50,0"]),
        json.dumps(["a" * 64 + ",50,nan"]),
    ],
)
def test_bad_text_forms_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        VPDQ.normalize(bad)


# --- the index equals the brute-force comparison --------------------------------------------


def _random_video(rng: random.Random, base: list[int] | None, frames: int) -> list[VpdqFeature]:
    out = []
    for k in range(frames):
        if base is not None and rng.random() < 0.7:
            value = base[rng.randrange(len(base))]
            for _ in range(rng.randrange(0, 40)):  # near or beyond 31
                value ^= 1 << rng.randrange(256)
        else:
            value = rng.getrandbits(256)
        out.append(VpdqFeature(f"{value:064x}", rng.choice([30, 60, 100]), float(k)))
    return out


@pytest.mark.parametrize("build", ["add", "loader", "add then loader"])
def test_the_index_finds_what_brute_force_finds(build: str) -> None:
    """However the index was filled: adds, a bank load's loader (frames gathered, one segment),
    or a loader after earlier adds (its videos' frame spans start after theirs)."""
    rng = random.Random(16)
    bases = [[rng.getrandbits(256) for _ in range(12)] for _ in range(6)]
    bank = [_random_video(rng, bases[i % 6], rng.randrange(3, 20)) for i in range(40)]
    texts, ids = [format_vpdq(v) for v in bank], list(range(100, 140))
    index = VpdqIndex()
    if build == "add":
        index.add(texts, ids)
    else:
        first = 15 if build == "add then loader" else 0
        index.add(texts[:first], ids[:first])
        loader = index.loader(len(texts))
        for k in range(first, len(texts), 7):
            loader.extend(texts[k : k + 7], ids[k : k + 7])
        loader.finish()
    for trial in range(12):
        query = _random_video(rng, bases[trial % 6], rng.randrange(2, 15))
        found = {h.entry_id: h.comparison for h in index.search_videos(format_vpdq(query))}
        for entry_id, video in enumerate(bank, start=100):
            brute = compare_vpdq(query, video)
            if brute.query_match_percent == 0:
                assert entry_id not in found
                continue
            got = found[entry_id]
            assert got.query_match_percent == pytest.approx(brute.query_match_percent)
            assert got.compared_match_percent == pytest.approx(brute.compared_match_percent)
            assert got.query_timestamps == brute.query_timestamps
        hits = index.search([format_vpdq(query)], 20)[0]
        assert {i for i, _ in hits} == {
            i for i, v in enumerate(bank, start=100) if compare_vpdq(query, v).is_match
        }


@pytest.mark.parametrize(
    "text",
    [
        json.dumps([f"{'a' * 64},100,0.000", f"{'B' * 64},80,1.23e+02", f"{'a' * 64},90,2.000"]),
        json.dumps([f"{'c' * 64},49,0.000", f"{'d' * 64},050,1.5", f"{'e' * 64},100,2"]),
        json.dumps([f" {'a' * 64} , 100 , 0.5 ", f"{'f' * 64},60,1_0"]),  # exact parser's forms
        json.dumps([f"{'a' * 64},30,0.0"]),  # no usable frame
    ],
)
def test_array_frames_are_the_prepared_features(text: str) -> None:
    """The index's bulk parse keeps what `prepare(parse_vpdq(...))` keeps, in its order."""
    usable = prepare(parse_vpdq(text))
    frames = vpdq_frames(text)
    assert frames.raw.tobytes().hex() == "".join(f.pdq for f in usable)
    assert frames.times.tolist() == [f.timestamp for f in usable]


@pytest.mark.parametrize(
    "bad",
    [
        "[]",
        "[1]",
        json.dumps(["a" * 64 + ",101,0"]),
        json.dumps(["a" * 63 + " ,50,0"]),
        json.dumps(["a" * 63 + ",50,0", "a" * 65 + ",50,1"]),  # 128 hex digits in all
        json.dumps(["a" * 64 + ",+5,0"]),
        json.dumps(["a" * 64 + ",50,inf"]),
    ],
)
def test_array_frames_refuse_what_the_parser_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        vpdq_frames(bad)


def test_sampled_lookups_find_every_video_brute_force_matches() -> None:
    """`search` probes only ⌊n/5⌋+1 of a query's n frames: videos matching exactly 80% of the
    query (the fewest frames that still match), with frames up to 31 bits off, are all found,
    and one frame fewer is not a match."""
    rng = random.Random(31)

    def flip(value: int, bits: int) -> int:
        for b in rng.sample(range(256), bits):
            value ^= 1 << b
        return value

    bank, queries = [], []
    for k in range(30):
        n = rng.randrange(5, 60)
        base = [rng.getrandbits(256) for _ in range(n)]
        bank.append([VpdqFeature(f"{v:064x}", 100, float(i)) for i, v in enumerate(base)])
        matched = -(-4 * n // 5) - (k % 2)  # ⌈0.8n⌉ (a match) or one fewer (not a match)
        chosen = set(rng.sample(range(n), matched))
        frames = [
            flip(v, rng.randrange(20, 32)) if i in chosen else rng.getrandbits(256)
            for i, v in enumerate(base)
        ]
        queries.append([VpdqFeature(f"{v:064x}", 100, float(i)) for i, v in enumerate(frames)])
    index = VpdqIndex()
    index.add([format_vpdq(v) for v in bank], list(range(len(bank))))
    for k, query in enumerate(queries):
        expected = {i for i, v in enumerate(bank) if compare_vpdq(query, v).is_match}
        assert expected == ({k} if k % 2 == 0 else set())
        assert {i for i, _ in index.search([format_vpdq(query)], 20)[0]} == expected


# --- bad input: each a clear error -----------------------------------------------------------


def test_a_corrupt_container_is_a_clear_error(original: bytes) -> None:
    broken = original[:64] + bytes(len(original) - 64)
    with pytest.raises(SignalError, match=r"broken video|no video"):
        compute_signals(broken)
    with pytest.raises(SignalError, match="broken video"):
        compute_signals(original[: len(original) // 3])


def test_an_endless_stream_stops_at_the_duration_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    data = render_video(SyntheticVideo(seed=5, seconds=6.0, fps=6, container="ts"))
    with pytest.raises(SignalError, match="duration 6 s exceeds"):  # FFmpeg's estimate
        hash_video(data, limits=VideoLimits(max_duration_s=2.0))
    # a live stream declares no length at all: only decoding finds out, and stops at the cap
    monkeypatch.setattr("orbweaver.signals.video._declared_duration", lambda *_: 0.0)
    with pytest.raises(SignalError, match="decoded past the duration cap of 2 s"):
        hash_video(data, limits=VideoLimits(max_duration_s=2.0))


def test_a_flood_of_tiny_frames_is_refused() -> None:
    tiny = [Image.new("RGB", (16, 16), (i % 256, 0, 0)) for i in range(600)]
    flood = encode_frames(tiny, 1000, "ts")  # 100,000 frames would take 100 s at this rate
    with pytest.raises(SignalError, match="frame rate"):
        hash_video(flood)
    slow = encode_frames(tiny, 25, "mkv")
    with pytest.raises(SignalError, match="frames decoded"):
        hash_video(slow, limits=VideoLimits(max_frames=100))
    assert len(hash_video(slow).features) == 24  # under the caps: hashed


def test_a_4_gb_file_is_refused_before_it_is_read(tmp_path: Path, original: bytes) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as handle:
        handle.write(original[:4096])
        handle.truncate(4 * 1024**3)  # sparse: no disk, no read
    with pytest.raises(SignalError, match="too large"):
        hash_path(big)


def test_a_decode_that_runs_too_long_is_stopped(original: bytes) -> None:
    with pytest.raises(SignalError, match="decoding took over"):
        hash_video(original, limits=VideoLimits(max_decode_s=0.0))
    one_thread = hash_video(original, limits=VideoLimits(decode_threads=1)).features
    assert one_thread == hash_video(original).features


def test_oversized_frames_are_refused(original: bytes) -> None:
    with pytest.raises(SignalError, match="exceed"):
        hash_video(original, limits=VideoLimits(max_pixels=320 * 200))
