"""Video suspects in review (issue 16): a blurred, greyscale contact sheet of sampled frames,
never the video itself; revealing shows one frame, clear, and counts toward the exposure cap.

The video is synthetic (orbweaver.sim.videos), rendered here."""

from __future__ import annotations

import hashlib
import io

import pytest
import sqlalchemy as sa
from PIL import Image, ImageFilter, ImageStat
from review_world import World

from orbweaver.review.errors import Forbidden
from orbweaver.review.service import FRAME_REVEAL_EXPOSURE_S
from orbweaver.sim.videos import SyntheticVideo, render_video
from orbweaver.store.models import AuditEntry, Media, ReviewItem

VIDEO = SyntheticVideo(seed=81, seconds=6.0, fps=6, width=192, height=144)


def video_suspect(world: World) -> int:
    data = render_video(VIDEO)
    with world.store.session() as s:
        m = Media(
            sha256=hashlib.sha256(data).hexdigest(),
            sha1=hashlib.sha1(data).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),
            size_bytes=len(data),
            mime_type="video/mp4",
            first_seen_at=world.clock.now().replace(tzinfo=None),
        )
        s.add(m)
        s.flush()
        media = (m.id, data)
    world.suspect(0, media=media)
    svc = world.service()
    svc.sync()
    with world.store.session() as s:
        return s.scalars(sa.select(ReviewItem.id)).one()


def edges(image: Image.Image) -> float:
    found = image.filter(ImageFilter.FIND_EDGES).crop((2, 2, image.width - 2, image.height - 2))
    return float(ImageStat.Stat(found).extrema[0][1])


def test_a_video_is_a_soft_contact_sheet_and_frames_are_revealed_one_at_a_time(
    world: World,
) -> None:
    item_id = video_suspect(world)
    svc = world.service()
    alice = world.user("alice")
    data, mime = svc.image(alice, item_id, clear=False)
    assert mime == "image/png"  # never the video: nothing to play
    sheet = Image.open(io.BytesIO(data))
    assert sheet.mode == "L" and sheet.width == 4 * 240 and sheet.height >= 240  # 6 frames
    with pytest.raises(Forbidden, match="one frame"):
        svc.image(alice, item_id, clear=True)
    before = svc.exposure_today(alice)
    frame, _ = svc.image(alice, item_id, clear=True, frame=2)
    clear = Image.open(io.BytesIO(frame))
    assert clear.mode == "RGB" and clear.size == (240, 240)
    assert svc.exposure_today(alice) == before + FRAME_REVEAL_EXPOSURE_S
    assert edges(sheet) < 0.3 * edges(clear.convert("L"))
    with world.store.session() as s:
        actions = list(s.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-2:] == ["image.view", "image.reveal"]
