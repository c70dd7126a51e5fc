"""vPDQ (issue 16): hashing throughput against the reference `vpdq` package, and bank lookups.

    .venv/bin/python -m benchmarks.bench_vpdq [--seconds 20] [--fps 25] [--repeat 3]
        [--videos 10000] [--frames 100] [--queries 400] [--brute 5] [--json OUT.json]

Hashing: one synthetic 1280×720 H.264 MP4 (moving shapes over changing scenes, x264 `veryfast`,
its default keyframe interval), hashed at one frame per second by `orbweaver.signals.hash_video`
and by the reference `vpdq.computeHash` (ThreatExchange's C++ through Cython, the `[vpdq-ref]`
extra), same file, same process, alternating, best of `--repeat`. Both decode with FFmpeg's
threads; `ratio` is ours over the reference's video-seconds per wall second, `cpu_ratio` the same
in CPU seconds of all threads (steadier than wall time on a shared, loaded machine). Without the
reference installed the hashing figure is ours alone.

Matching: a bank of `--videos` videos of `--frames` random frames each in `VpdqIndex` (the
multi-index PDQ index holding every frame with its video), queried on one core by `--queries`
videos: half near copies of bank videos (each frame a few bits off, a few frames dropped), half
unrelated. Recall is checked against a brute-force vPDQ comparison of `--brute` near and
`--brute` unrelated queries with every bank video (every query frame's popcount distance to every
bank frame, by the compiled scan; no index). Lookups are timed in wall and CPU seconds
(`lookups_per_cpu_s`: one core's rate, steadier than wall time on a shared machine), with the
load average before and after them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from orbweaver.signals import VpdqFeature, VpdqIndex, compare_vpdq, format_vpdq, hash_video
from orbweaver.signals.blas import limit_blas_threads
from orbweaver.sim.videos import SyntheticVideo, render_video


def _load() -> float:
    return os.getloadavg()[0]


def bench_hashing(seconds: float, fps: int, repeat: int) -> dict[str, object]:
    video = SyntheticVideo(seed=720, width=1280, height=720, seconds=seconds, fps=fps, scene_s=2.5)
    data = render_video(video)
    out: dict[str, object] = {"video_s": seconds, "fps": fps, "bytes": len(data)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip720.mp4"
        path.write_bytes(data)
        try:
            import vpdq  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            vpdq = None
        ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
        for _ in range(repeat):
            start, cpu = time.perf_counter(), time.process_time()
            frames = hash_video(path).features
            ours.append(time.perf_counter() - start)
            ours_cpu.append(time.process_time() - cpu)
            if vpdq is not None:
                start, cpu = time.perf_counter(), time.process_time()
                ref = vpdq.computeHash(str(path), seconds_per_hash=1.0)
                theirs.append(time.perf_counter() - start)
                theirs_cpu.append(time.process_time() - cpu)
        out["frames_hashed"] = len(frames)
        out["ours_s"] = min(ours)
        out["ours_video_s_per_s"] = seconds / min(ours)
        out["ours_cpu_s"] = min(ours_cpu)
        if theirs:
            out["reference_frames"] = len(ref)
            out["reference_s"] = min(theirs)
            out["reference_video_s_per_s"] = seconds / min(theirs)
            out["ratio"] = min(theirs) / min(ours)
            out["reference_cpu_s"] = min(theirs_cpu)
            out["cpu_ratio"] = min(theirs_cpu) / min(ours_cpu)
    return out


def _random_video(rng: random.Random, frames: int) -> list[VpdqFeature]:
    return [VpdqFeature(f"{rng.getrandbits(256):064x}", 100, float(k)) for k in range(frames)]


def _near(rng: random.Random, video: list[VpdqFeature]) -> list[VpdqFeature]:
    out = []
    for f in video:
        if rng.random() < 0.1:
            continue  # a dropped frame
        value = int(f.pdq, 16)
        for _ in range(rng.randrange(0, 12)):
            value ^= 1 << rng.randrange(256)
        out.append(VpdqFeature(f"{value:064x}", f.quality, f.timestamp))
    return out


def _words(features: list[VpdqFeature]) -> np.ndarray:
    raw = bytes.fromhex("".join(f.pdq for f in features))
    return np.frombuffer(raw, dtype=">u8").reshape(-1, 4).astype(np.uint64)


def _brute(query: list[VpdqFeature], bank_words: np.ndarray, owner: np.ndarray) -> set[int]:
    """Bank videos the query matches (≥ 80% of its frames within 31), by popcount of every
    query frame against every bank frame (the index's compiled brute-force scan, no index)."""
    from orbweaver.signals._mih_kernels import scan

    q = _words(query)
    qi, rows, _dist = scan(bank_words, q, 31)
    pairs = np.unique(np.stack([owner[rows], qi]), axis=1)  # (video, query frame) once each
    videos, matched = np.unique(pairs[0], return_counts=True)
    return {int(v) for v, n in zip(videos, matched, strict=True) if 100.0 * n / len(q) >= 80.0}


def bench_matching(videos: int, frames: int, queries: int, brute: int) -> dict[str, object]:
    rng = random.Random(16)
    bank = [_random_video(rng, frames) for _ in range(videos)]
    start = time.perf_counter()
    index = VpdqIndex()
    loader = index.loader(videos)  # as a bank load does: chunks in, one frame index out
    chunk = 1000
    for first in range(0, videos, chunk):
        part = bank[first : first + chunk]
        loader.extend([format_vpdq(v) for v in part], list(range(first, first + len(part))))
    loader.finish()
    build_s = time.perf_counter() - start
    wanted = [rng.randrange(videos) for _ in range(queries // 2)]
    texts = [format_vpdq(_near(rng, bank[i])) for i in wanted]
    texts += [format_vpdq(_random_video(rng, frames)) for _ in range(queries - len(wanted))]
    index.search([texts[-1]], 20)  # compile the kernels before timing
    load_before = _load()
    start, cpu = time.perf_counter(), time.process_time()
    results = [index.search([t], 20)[0] for t in texts]
    lookup_s = time.perf_counter() - start
    lookup_cpu_s = time.process_time() - cpu
    load_after = _load()
    found = sum(any(i == w for i, _ in r) for r, w in zip(results, wanted, strict=False))
    bank_words = np.concatenate([_words(v) for v in bank])
    owner = np.repeat(np.arange(videos), frames)
    agree = 0
    sample = list(range(0, min(brute, len(wanted)))) + list(
        range(len(wanted), len(wanted) + min(brute, queries - len(wanted)))
    )
    from orbweaver.signals import parse_vpdq

    for k in sample:
        expected = _brute(parse_vpdq(texts[k]), bank_words, owner)
        got = {i for i, _ in results[k]}
        agree += expected == got
    # one exact check of the shares on the first near query
    first = wanted[0]
    shares = compare_vpdq(parse_vpdq(texts[0]), bank[first])
    hit = next(h for h in index.search_videos(texts[0]) if h.entry_id == first)
    assert abs(hit.comparison.query_match_percent - shares.query_match_percent) < 1e-9
    return {
        "videos": videos,
        "frames": videos * frames,
        "build_s": build_s,
        "lookups_per_s": queries / lookup_s,
        "lookups_per_cpu_s": queries / lookup_cpu_s,
        "lookup_load": [load_before, load_after],
        "near_copies_found": found / len(wanted),
        "brute_force_agreement": f"{agree}/{len(sample)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--brute", type=int, default=5)
    parser.add_argument("--skip-hashing", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    limit_blas_threads(1)
    result: dict[str, object] = {"load_before": _load()}
    if not args.skip_hashing:
        result["hashing"] = bench_hashing(args.seconds, args.fps, args.repeat)
        print(json.dumps(result["hashing"], indent=1), flush=True)
    print(json.dumps({"load_before_matching": _load()}), flush=True)
    result["matching"] = bench_matching(args.videos, args.frames, args.queries, args.brute)
    result["load_after"] = _load()
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
