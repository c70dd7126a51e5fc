"""C3P's `arachnid-shield-sdk`, unchanged, against a live `orbweaver serve` on loopback.

The server is the real command in a subprocess (uvicorn, SQLite store); the key comes from
`orbweaver apikey create`. Every image is synthetic (seeded Pillow shapes); "known" is only a
label this test puts on them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from orbweaver.banks import create_bank, import_csv
from orbweaver.clock import SettableClock
from orbweaver.signals import compute_signals
from orbweaver.sim.videos import NEAR_DUPLICATES, SyntheticVideo, render_video
from orbweaver.store import open_store
from orbweaver.store.models import Media

MAX_UPLOAD = 256 * 1024
KNOWN_VIDEO = SyntheticVideo(seed=61, seconds=4.0, fps=8, width=192, height=144)
pytestmark = pytest.mark.slow


def synthetic(seed: int, size: int = 320) -> Image.Image:
    """Random coloured rectangles and ellipses: detailed enough for PDQ quality 100."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = rng.randrange(size), rng.randrange(size)
        box = [x0, y0, x0 + rng.randrange(10, size // 2), y0 + rng.randrange(10, size // 2)]
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    return image


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def b64(pdq_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(pdq_hex)).decode()


def b32_sha1(data: bytes) -> str:
    return base64.b32encode(hashlib.sha1(data).digest()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    url: str
    username: str
    password: str
    known: bytes  # labelled csam in the bank (sha256 and PDQ)
    harmful_pdq: str  # a PDQ labelled harmful_abusive
    sdk: ModuleType


def load_sdk(base_url: str) -> ModuleType:
    """The SDK as a fresh process would see it with ARACHNID_SHIELD_URL set.

    It reads the variable once, as a default argument at import time, so a process that
    already imported it (another test) re-imports it after setting the variable.
    """
    os.environ["ARACHNID_SHIELD_URL"] = base_url
    import arachnid_shield_sdk
    import arachnid_shield_sdk.api.client
    import arachnid_shield_sdk.api.v1

    importlib.reload(arachnid_shield_sdk.api.client)
    importlib.reload(arachnid_shield_sdk.api.v1)
    return importlib.reload(arachnid_shield_sdk)


def seed_store(url: str) -> tuple[bytes, str]:
    clock = SettableClock(datetime(2026, 11, 29, tzinfo=UTC))
    store = open_store(url)
    known = jpeg(synthetic(1))
    signals = compute_signals(known)
    assert signals.pdq is not None
    harmful = compute_signals(jpeg(synthetic(2))).pdq
    assert harmful is not None
    create_bank(store, clock, "hotline", threshold=31)
    video = compute_signals(render_video(KNOWN_VIDEO))
    rows = [
        f"sha256,{signals.sha256},csam_prepubescent,test",
        'vpdq,"' + video.extra["vpdq"].replace('"', '""') + '",csam_prepubescent,test',
        f"pdq,{signals.pdq},csam_prepubescent,test",
        f"pdq,{harmful},harmful_abusive,test",
    ]
    csv = "signal_type,signal,category,source\n" + "\n".join(rows) + "\n"
    assert not import_csv(store, clock, "hotline", io.StringIO(csv)).errors
    with store.session() as session:  # the hotline has seen the known picture itself
        session.add(
            Media(
                sha256=signals.sha256,
                sha1=signals.sha1,
                md5=signals.md5,
                pdq=signals.pdq,
                pdq_quality=signals.pdq_quality,
                size_bytes=signals.size_bytes,
                mime_type="image/jpeg",
                first_seen_at=datetime(2026, 11, 1),
            )
        )
    store.dispose()
    return known, harmful


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"orbweaver serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}status", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("orbweaver serve did not become ready")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("shield")
    db_url = f"sqlite:///{tmp / 'orbweaver.db'}"
    known, harmful = seed_store(db_url)
    env = {
        **os.environ,
        "ORBWEAVER_DATABASE_URL": db_url,
        "ORBWEAVER_SHIELD_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "ORBWEAVER_SHIELD_REFRESH_INTERVAL_S": "0.5",
    }
    cli = [sys.executable, "-m", "orbweaver.cli"]
    key = subprocess.run(
        [*cli, "apikey", "create", "acme-uploads"],
        env=env,
        cwd=tmp,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    username, password = key.split(":")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=tmp,
    )
    saved = os.environ.get("ARACHNID_SHIELD_URL")
    try:
        wait_ready(url, proc)
        yield Live(url, username, password, known, harmful, load_sdk(url))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if saved is None:
            os.environ.pop("ARACHNID_SHIELD_URL", None)
        else:
            os.environ["ARACHNID_SHIELD_URL"] = saved


def client(live: Live, password: str | None = None) -> Any:
    return live.sdk.ArachnidShield(username=live.username, password=password or live.password)


def test_exact_match(live: Live) -> None:
    sdk = live.sdk
    scanned = client(live).scan_media_from_bytes(live.known, "image/jpeg")
    assert scanned.classification == sdk.MediaClassification.CSAM
    assert scanned.match_type == sdk.MatchType.Exact
    assert scanned.matches_known_media
    assert scanned.sha256_hex == hashlib.sha256(live.known).hexdigest()
    assert scanned.sha1_base32 == b32_sha1(live.known)
    assert scanned.size_bytes == len(live.known)
    assert scanned.near_match_details == []


def test_reencoded_copy_matches_near(live: Live) -> None:
    sdk = live.sdk
    copy = jpeg(synthetic(1).resize((240, 240)), quality=55)
    scanned = client(live).scan_media_from_bytes(copy, "image/jpeg")
    assert scanned.classification == sdk.MediaClassification.CSAM
    assert scanned.match_type == sdk.MatchType.Near
    assert scanned.sha256_hex == hashlib.sha256(copy).hexdigest()
    [detail] = scanned.near_match_details
    assert detail.timestamp == 0.0
    assert detail.sha256_hex == hashlib.sha256(live.known).hexdigest()
    assert detail.sha1_base32 == b32_sha1(live.known)
    assert detail.classification == "csam"


def test_file_upload_and_async_client(live: Live, tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "upload.jpg"
    path.write_bytes(live.known)
    assert client(live).scan_media_from_file(path).match_type == live.sdk.MatchType.Exact

    async def scan() -> Any:
        shield = live.sdk.ArachnidShieldAsync(username=live.username, password=live.password)
        return await shield.scan_media_from_bytes(live.known, "image/jpeg")

    assert asyncio.run(scan()).classification == live.sdk.MediaClassification.CSAM


def test_unknown_image_is_no_known_match(live: Live) -> None:
    scanned = client(live).scan_media_from_bytes(jpeg(synthetic(99)), "image/jpeg")
    assert scanned.classification == live.sdk.MediaClassification.NoKnownMatch
    assert scanned.match_type is None
    assert scanned.near_match_details == []
    assert not scanned.matches_known_media


def test_a_video_copy_matches_near_with_each_matched_frames_timestamp(live: Live) -> None:
    """A re-encoded WebM copy of a known MP4: vPDQ finds it, and the SDK reads one detail per
    matched frame, with the frame's time in the upload (Project Arachnid's shape)."""
    sdk = live.sdk
    copy = render_video(KNOWN_VIDEO, NEAR_DUPLICATES[0])
    scanned = client(live).scan_media_from_bytes(copy, "video/webm")
    assert scanned.classification == sdk.MediaClassification.CSAM
    assert scanned.match_type == sdk.MatchType.Near
    assert [d.timestamp for d in scanned.near_match_details] == [0.0, 1.0, 2.0, 3.0]
    assert all(d.classification == "csam" for d in scanned.near_match_details)
    other = render_video(SyntheticVideo(seed=62, seconds=3.0, fps=8, width=192, height=144))
    unknown = client(live).scan_media_from_bytes(other, "video/mp4")
    assert unknown.match_type is None and unknown.near_match_details == []


def test_a_corrupt_video_is_a_clear_error(live: Live) -> None:
    broken = render_video(KNOWN_VIDEO)[:2000]
    response = httpx.post(
        f"{live.url}v1/media/",
        content=broken,
        headers={"Content-Type": "video/mp4"},
        auth=(live.username, live.password),
    )
    assert response.status_code == 422 and "video" in response.text


def test_pdq_batch(live: Live) -> None:
    sdk = live.sdk
    known_pdq = compute_signals(live.known).pdq
    near_pdq = compute_signals(jpeg(synthetic(1).resize((240, 240)), quality=55)).pdq
    unknown_pdq = compute_signals(jpeg(synthetic(99))).pdq
    assert known_pdq and near_pdq and unknown_pdq
    sent = [b64(known_pdq), b64(near_pdq), b64(live.harmful_pdq), b64(unknown_pdq)]
    result = client(live).scan_pdq_hashes(sdk.ScanMediaFromPdq(hashes=sent))
    answers = result.scanned_hashes
    assert set(answers) == set(sent)
    for hit in sent[:2]:
        assert answers[hit].classification == "csam"
        assert answers[hit].match_type == sdk.MatchType.Near
        assert answers[hit].near_match_details.sha256_hex == hashlib.sha256(live.known).hexdigest()
    harmful = answers[sent[2]]
    assert harmful.classification == "harmful-abusive-material"
    assert harmful.near_match_details.sha256_hex == ""  # a PDQ-only entry: no media known
    miss = answers[sent[3]]
    assert miss.classification == "no-known-match"
    assert miss.match_type is None and miss.near_match_details is None


def test_wrong_password(live: Live) -> None:
    with pytest.raises(live.sdk.ArachnidShieldException) as err:
        client(live, password="not-the-secret").scan_media_from_bytes(live.known, "image/jpeg")
    assert "invalid username or password" in str(err.value)


def test_oversized_upload(live: Live) -> None:
    big = random.Random(7).randbytes(4 * MAX_UPLOAD)
    with pytest.raises(live.sdk.ArachnidShieldException) as err:
        client(live).scan_media_from_bytes(big, "image/jpeg")
    assert f"larger than {MAX_UPLOAD} bytes" in str(err.value)


def test_non_image_upload(live: Live) -> None:
    with pytest.raises(live.sdk.ArachnidShieldException) as err:
        client(live).scan_media_from_bytes(b"%PDF-1.4 not a picture", "application/pdf")
    assert "'application/pdf' is not scanned" in str(err.value)
    with pytest.raises(live.sdk.ArachnidShieldException) as err:
        client(live).scan_media_from_bytes(b"plain text, labelled a picture", "image/png")
    assert "could not decode" in str(err.value)


def test_url_scanning_is_off_by_default(live: Live) -> None:
    with pytest.raises(live.sdk.ArachnidShieldException) as err:
        client(live).scan_media_from_url("http://127.0.0.1:9/picture.jpg")
    assert "not enabled" in str(err.value)
