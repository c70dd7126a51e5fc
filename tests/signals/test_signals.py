"""The signals stage: crypto hashes, PDQ conformance, dihedral variants, bad input, every mode."""

from __future__ import annotations

import csv
import hashlib
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from orbweaver.signals import (
    DIHEDRAL_NAMES,
    SignalError,
    compute_signals,
    get_signal_type,
    hamming,
    hash_path,
    pdq_dihedral,
    register_signal_type,
    signal_types,
)
from orbweaver.signals.decode import to_luma_image
from orbweaver.signals.registry import CryptoSignalType

PDQ_DATA = Path(__file__).parents[1] / "data" / "pdq"
EXPECTED = list(csv.DictReader((PDQ_DATA / "expected.csv").open()))
DIH = sorted((PDQ_DATA / "images" / "dih").glob("*.jpg"))


def picture(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A synthetic RGB picture: gradient, shapes, a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack(
        [xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], -1
    )
    im = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(8):
        x0, x1 = sorted(rng.integers(0, width, 2).tolist())
        y0, y1 = sorted(rng.integers(0, height, 2).tolist())
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    noisy = np.asarray(im, dtype=np.int16) + rng.integers(-4, 5, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims `width`×`height` (nothing is allocated)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- conformance with the reference implementation -------------------------------------------


@pytest.mark.parametrize("row", EXPECTED, ids=[r["path"] for r in EXPECTED])
def test_reference_images_within_distance_10(row: dict[str, str]) -> None:
    signals = hash_path(PDQ_DATA / row["path"])
    assert signals.pdq is not None and len(signals.pdq) == 64
    assert hamming(signals.pdq, row["pdq_hex"]) <= 10


def test_dihedral_set_is_one_picture() -> None:
    """Each rotated/flipped file matches the original's variant of the same name, and only it."""
    variants = pdq_dihedral((DIH[0]).read_bytes())
    assert len(variants) == len(DIHEDRAL_NAMES) == 8
    for index, path in enumerate(DIH):
        pdq = hash_path(path).pdq
        assert pdq is not None
        distances = [hamming(pdq, v) for v in variants]
        assert distances[index] <= 20, (path.name, distances)
        assert min(d for i, d in enumerate(distances) if i != index) > 64, (path.name, distances)


def test_dihedral_original_is_the_plain_hash() -> None:
    data = DIH[0].read_bytes()
    assert pdq_dihedral(data)[0] == compute_signals(data).pdq


def test_draft_path_close_to_full_decode() -> None:
    """At 1080p the DCT-scaled path stays within 16 bits of full decode + pdqhash."""
    import pdqhash

    for seed in range(3):
        data = encode(picture(1920, 1080, seed), "JPEG", quality=85)
        bits, _ = pdqhash.compute(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        full = np.packbits(bits.astype(np.uint8)).tobytes().hex()
        fast = compute_signals(data).pdq
        assert fast is not None and hamming(fast, full) <= 16


def test_exif_orientation_is_not_applied() -> None:
    """The reference hashes the stored pixel grid; a rotation tag must not change the hash."""
    im = picture()
    exif = Image.Exif()
    exif[0x0112] = 6
    plain = compute_signals(encode(im, "JPEG", quality=90)).pdq
    tagged = compute_signals(encode(im, "JPEG", quality=90, exif=exif.tobytes())).pdq
    assert plain == tagged


# --- crypto signals and the split image / not-an-image / broken ------------------------------


def test_crypto_hashes_and_mime_from_bytes(tmp_path: Path) -> None:
    data = encode(picture(), "PNG")
    path = tmp_path / "looks-like.txt"  # the extension lies; the bytes decide
    path.write_bytes(data)
    s = hash_path(path)
    assert s.sha256 == hashlib.sha256(data).hexdigest()
    assert s.sha1 == hashlib.sha1(data).hexdigest()
    assert s.md5 == hashlib.md5(data).hexdigest()
    assert (s.mime_type, s.size_bytes, s.width, s.height) == ("image/png", len(data), 320, 240)
    assert s.pdq is not None and s.pdq_quality is not None and 0 <= s.pdq_quality <= 100


def test_not_an_image_keeps_crypto_hashes() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello")
    data = buf.getvalue()
    s = compute_signals(data)
    assert s.pdq is None and s.pdq_quality is None and not s.is_image
    assert s.sha256 == hashlib.sha256(data).hexdigest()
    assert s.mime_type == "application/zip"
    assert compute_signals(b"just some text").mime_type is None
    with pytest.raises(SignalError, match="not an image"):
        pdq_dihedral(data)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SignalError, match="empty file"):
        compute_signals(b"")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(SignalError, match="empty file"):
        hash_path(tmp_path / "empty.jpg")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_image_is_an_error(fmt: str) -> None:
    data = encode(picture(), fmt)
    with pytest.raises(SignalError, match="broken image"):
        compute_signals(data[: len(data) // 2])


def test_image_signature_with_garbage_is_an_error() -> None:
    with pytest.raises(SignalError, match="broken image"):
        compute_signals(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(SignalError, match="broken image"):
        compute_signals(b"\xff\xd8\xff\xe0" + b"garbage" * 10)


def test_decompression_bomb_refused_before_decoding() -> None:
    with pytest.raises(SignalError, match="decompression bomb"):
        compute_signals(png_declaring(100_000, 100_000))
    # Between our limit and Pillow's global one: our own check, with the dimensions.
    with pytest.raises(SignalError, match=r"decompression bomb: 9000x8000 exceeds 64000000"):
        compute_signals(png_declaring(9000, 8000))
    with pytest.raises(SignalError, match=r"320x240 exceeds 1000 pixels"):
        compute_signals(encode(picture(), "PNG"), max_pixels=1000)


def test_huge_file_refused_without_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as handle:  # sparse: 8 GiB on paper, nothing on disk
        handle.truncate(8 * 1024**3)
    with pytest.raises(SignalError, match="too large: 8589934592 bytes"):
        hash_path(huge)
    small = tmp_path / "small.png"
    small.write_bytes(encode(picture(), "PNG"))
    with pytest.raises(SignalError, match="too large"):
        hash_path(small, max_bytes=100)
    with pytest.raises(SignalError, match="too large"):
        compute_signals(small.read_bytes(), max_bytes=100)


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(SignalError, match="cannot read"):
        hash_path(tmp_path / "missing.jpg")
    with pytest.raises(SignalError, match="cannot read"):
        hash_path(tmp_path)


def test_eps_is_never_interpreted() -> None:
    """Pillow hands EPS to Ghostscript; we do not open it at all."""
    s = compute_signals(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    assert s.pdq is None


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=2048),
    st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff"]),
)
def test_arbitrary_bytes_give_signals_or_signal_error(tail: bytes, head: bytes) -> None:
    """Any bytes: well-formed signals of exactly these bytes, or a SignalError that says why
    (any other exception fails the test)."""
    _signals_of_these_bytes_or_signal_error(head + tail)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_corrupted_images_give_signals_or_signal_error(data: st.DataObject) -> None:
    raw = bytearray(CORRUPTIBLE[data.draw(st.integers(0, len(CORRUPTIBLE) - 1))])
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _signals_of_these_bytes_or_signal_error(bytes(raw))


def _signals_of_these_bytes_or_signal_error(data: bytes) -> None:
    """The checks both fuzz tests make: the exact hashes always describe `data` itself, a PDQ
    (when the bytes decode as a picture) is 64 hex digits with a quality in 0..100 and the
    picture's size; a refusal is a SignalError with a message."""
    try:
        s = compute_signals(data)
    except SignalError as exc:
        assert str(exc)
        return
    assert s.sha256 == hashlib.sha256(data).hexdigest()
    assert s.md5 == hashlib.md5(data).hexdigest()
    assert s.sha1 == hashlib.sha1(data).hexdigest()
    assert s.size_bytes == len(data)
    if s.pdq is None:
        assert s.pdq_quality is None and s.width is None
    else:
        assert len(s.pdq) == 64 and int(s.pdq, 16) >= 0
        assert s.pdq_quality is not None and 0 <= s.pdq_quality <= 100
        assert s.width is not None and s.width > 0 and s.height is not None and s.height > 0


CORRUPTIBLE = [
    encode(picture(64, 48), fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
]


# --- every Pillow mode, every format, animations ---------------------------------------------

MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F", "I;16"]


def in_mode(im: Image.Image, mode: str) -> Image.Image:
    """The picture in `mode`, keeping its tonal range for the numeric modes."""
    grey = np.asarray(im.convert("L"))
    if mode == "I;16":
        return Image.fromarray(grey.astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(grey.astype(np.int32) * 1000 - 50_000)
    if mode == "F":
        return Image.fromarray(grey.astype(np.float32) / 255.0)
    if mode == "PA":
        return im.convert("P").convert("PA")
    return im.convert(mode)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_hashes_like_the_rgb_picture(mode: str) -> None:
    im = picture()
    reference = compute_signals(encode(im.convert("L"), "PNG")).pdq
    luma = to_luma_image(in_mode(im, mode))
    assert luma.mode == "L" and luma.size == im.size
    pdq = compute_signals(encode(luma, "PNG")).pdq
    assert reference is not None and pdq is not None
    limit = 64 if mode == "1" else 24  # 1-bit dithering and palettes lose detail
    assert hamming(pdq, reference) <= (limit if mode in ("1", "P", "PA") else 8), mode


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("1", "PNG"),
        ("L", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("P", "GIF"),
        ("RGBA", "PNG"),
        ("I;16", "PNG"),
        ("I", "TIFF"),
        ("F", "TIFF"),
        ("CMYK", "TIFF"),
        ("CMYK", "JPEG"),
        ("YCbCr", "JPEG"),
        ("RGB", "BMP"),
        ("RGB", "WEBP"),
        ("L", "JPEG"),
    ],
)
def test_encoded_modes_decode(mode: str, fmt: str) -> None:
    im = picture()
    reference = compute_signals(encode(im.convert("L"), "PNG")).pdq
    s = compute_signals(encode(in_mode(im, mode), fmt))
    assert s.pdq is not None and reference is not None
    assert hamming(s.pdq, reference) <= (64 if mode in ("1", "P", "PA") else 16), (mode, fmt)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_hashed_on_first_frame(fmt: str) -> None:
    first, second = picture(seed=1), picture(seed=2).transpose(Image.Transpose.ROTATE_180)
    out = io.BytesIO()
    first.save(out, fmt, save_all=True, append_images=[second], duration=100, loop=0)
    animated = compute_signals(out.getvalue()).pdq
    alone = compute_signals(encode(first, fmt)).pdq
    other = compute_signals(encode(second, fmt)).pdq
    assert animated is not None and alone is not None and other is not None
    assert hamming(animated, alone) <= 8 < hamming(animated, other)


def test_palette_with_transparency() -> None:
    im = picture().convert("P")
    im.info["transparency"] = 0
    assert compute_signals(encode(im, "PNG", transparency=0)).pdq is not None


def test_tiny_image() -> None:
    s = compute_signals(encode(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"))
    assert s.pdq is not None and s.pdq_quality == 0


# --- hamming and the signal-type registry ----------------------------------------------------


def test_hamming() -> None:
    assert hamming("0" * 64, "0" * 64) == 0
    assert hamming("0" * 64, "f" * 64) == 256
    assert hamming("0" * 63 + "1", "0" * 64) == 1
    with pytest.raises(ValueError):
        hamming("00", "000")


def test_registry() -> None:
    assert list(signal_types())[:4] == ["sha256", "sha1", "md5", "pdq"]
    pdq = get_signal_type("pdq")
    a, b = "0" * 64, "0" * 63 + "7"
    assert pdq.distance(a, b.upper()) == 3 and pdq.matches(a, b, 3) and not pdq.matches(a, b, 2)
    assert pdq.normalize(" " + "AB" * 32 + " ") == "ab" * 32
    with pytest.raises(ValueError):
        pdq.normalize("abc")
    sha = get_signal_type("sha256")
    assert sha.distance("a" * 64, "A" * 64) == 0 and sha.distance("a" * 64, "b" * 64) == 1
    with pytest.raises(ValueError):
        sha.normalize("a" * 63)
    with pytest.raises(KeyError, match="known: sha256"):
        get_signal_type("photodna")


def test_register_a_new_type() -> None:
    blake = CryptoSignalType("blake2b_test", 128, hashlib.blake2b)
    register_signal_type(blake)
    try:
        assert get_signal_type("blake2b_test").normalize("A" * 128) == "a" * 128
    finally:
        from orbweaver.signals import registry

        registry._REGISTRY.pop("blake2b_test")


# --- the PDQ grid: the reference's downsampling by matrix products ----------------------------


def _pdqhash_hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


@pytest.mark.parametrize(
    ("height", "width", "seed"),
    [(64, 64, 0), (5, 9, 1), (333, 517, 2), (480, 640, 3), (1004, 1600, 4)],
)
def test_full_size_grid_is_pdqhash(height: int, width: int, seed: int) -> None:
    """On a full-size luma picture the numpy path gives pdqhash's hash, dihedral set and quality."""
    import pdqhash

    from orbweaver.signals.pdq import pdq_dihedral_from_luma, pdq_from_luma

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255 * rng.random(), width)[None, :] * np.ones((height, 1))
    luma = np.clip(ramp + rng.normal(0, 30 * rng.random(), (height, width)), 0, 255)
    luma = luma.astype(np.uint8)
    rgb = np.repeat(luma[:, :, None], 3, axis=2)
    bits, quality = pdqhash.compute(rgb)
    variants, _ = pdqhash.compute_dihedral(rgb)
    mine, my_quality = pdq_from_luma(luma)
    my_variants, _ = pdq_dihedral_from_luma(luma)
    assert hamming(mine, _pdqhash_hex(bits)) <= 2
    assert abs(my_quality - quality) <= 1
    assert all(hamming(a, _pdqhash_hex(b)) <= 2 for a, b in zip(my_variants, variants, strict=True))
    assert my_variants[0] == mine


def test_quality_tracks_pdqhash_on_flat_pictures() -> None:
    """Quality decides whether a hash is matched at all (HMA's 50), so it must agree below 100."""
    import pdqhash

    from orbweaver.signals.pdq import pdq_from_luma

    for sigma in (0.0, 1.0, 3.0, 8.0):
        rng = np.random.default_rng(7)
        wave = 40 * np.sin(np.arange(300) / 50)[:, None] + np.linspace(60, 200, 400)[None, :]
        luma = np.clip(wave + rng.normal(0, sigma, wave.shape), 0, 255).astype(np.uint8)
        _, quality = pdqhash.compute(np.repeat(luma[:, :, None], 3, axis=2))
        assert pdq_from_luma(luma)[1] == quality < 100


@pytest.mark.parametrize(("width", "height"), [(640, 480), (1920, 1080), (4000, 3000)])
def test_reduced_grid_close_to_full_decode(width: int, height: int) -> None:
    """The DCT-scaled and box-reduced path stays within a few bits of pdqhash on the full
    picture, and reports the same quality."""
    import pdqhash

    from orbweaver.signals.decode import decode_image

    data = encode(picture(width, height, seed=width), "JPEG", quality=85)
    decoded = decode_image(data)
    assert decoded is not None and decoded.luma.shape[0] * decoded.luma.shape[1] < 300_000
    bits, quality = pdqhash.compute(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    s = compute_signals(data)
    assert s.pdq is not None and hamming(s.pdq, _pdqhash_hex(bits)) <= 6
    assert s.pdq_quality == quality


def test_reduction_keeps_the_scale() -> None:
    """Each axis is reduced to at least PDQ_MIN_SIDE pixels, and the factors are recorded."""
    from orbweaver.signals import PDQ_MIN_SIDE
    from orbweaver.signals.decode import decode_image

    jpeg = decode_image(encode(picture(1920, 1080), "JPEG", quality=85))
    assert jpeg is not None and jpeg.scale == (4, 4) and jpeg.luma.shape == (270, 480)
    png = decode_image(encode(picture(2000, 600).convert("L"), "PNG"))
    assert png is not None and png.scale == (7, 2) and png.luma.shape == (300, 286)
    assert min(png.luma.shape) >= PDQ_MIN_SIDE


def test_extreme_aspect_ratio_is_bounded() -> None:
    """A 40000×8 strip: the weights come from the reduced side, not the 40000-pixel one."""
    s = compute_signals(encode(Image.new("L", (40_000, 8), 128), "PNG"))
    assert s.pdq is not None and s.pdq_quality == 0
