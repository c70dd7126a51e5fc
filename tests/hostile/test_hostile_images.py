"""Hostile pictures: each one gets a clear error of its own (or is hashed safely), and the good
pictures of the same batch are still hashed; the console never renders what the crawler would
not decode."""

from __future__ import annotations

import io
import warnings

import pytest
from PIL import Image

from hostile.images import CASES, Case
from orbweaver.review.imaging import RenderRefused, placeholder, render, render_or_refuse
from orbweaver.signals import MediaSignals, SignalError, compute_signals


def _good(seed: int) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((64, 64), 20 + seed).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _batch(items: list[bytes]) -> list[MediaSignals | str]:
    """What a media worker does with a batch: one outcome per item, an error is one item's."""
    out: list[MediaSignals | str] = []
    for data in items:
        try:
            out.append(compute_signals(data))
        except SignalError as exc:
            out.append(f"error: {exc}")
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_picture_is_one_clear_outcome_and_the_batch_goes_on(case: Case) -> None:
    hostile = case.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF and big headers
        first, outcome, last = _batch([_good(1), hostile, _good(2)])
    assert isinstance(first, MediaSignals) and first.pdq is not None
    assert isinstance(last, MediaSignals) and last.pdq is not None
    if case.expect == "outside":
        # never decoded: exact hashes only (so bank matches still work), or a sniffed image
        # header we refuse to open (AVIF)
        assert isinstance(outcome, str) or outcome.pdq is None, outcome
    elif case.expect == "refused":
        assert isinstance(outcome, str) and case.reason in outcome, outcome
    elif case.expect == "hashed":
        assert isinstance(outcome, MediaSignals) and outcome.pdq is not None
    else:
        assert isinstance(outcome, (str, MediaSignals))
    if isinstance(outcome, MediaSignals):
        assert outcome.sha256 is not None and len(outcome.sha256) == 64


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.expect in ("outside", "refused")], ids=lambda c: c.id
)
def test_the_console_shows_a_placeholder_for_it(case: Case) -> None:
    hostile = case.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RenderRefused) as refused:
            render_or_refuse(hostile, blur=True, greyscale=True)
        assert str(refused.value)
        assert render(hostile, blur=True, greyscale=True) == placeholder()
