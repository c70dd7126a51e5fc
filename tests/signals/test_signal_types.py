"""The signal-type registry and its parts: the one crypto-hash helper, the built-in types'
comparisons and thresholds, the two generic indexes, and types computed by `compute_signals`
without an edit elsewhere."""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from orbweaver.signals import (
    MD5,
    PDQ,
    SHA1,
    SHA256,
    BytesSignalType,
    CryptoSignalType,
    ExactIndex,
    ImageSignalType,
    LinearIndex,
    MediaSignals,
    compute_exact_signals,
    compute_signals,
    exact_hashes,
    get_signal_type,
    register_signal_type,
    signal_types,
    signal_value,
    unregister_signal_type,
)
from orbweaver.signals.commands import hash_record
from orbweaver.signals.decode import DecodedImage
from orbweaver.signals.pdq_index import PDQHexIndex, PDQIndex


class Crc32(BytesSignalType):
    """A toy exact type computed from the bytes."""

    name = "toy_crc32"

    def compute_bytes(self, data: bytes) -> str:
        return f"{zlib.crc32(data):08x}"

    def normalize(self, value: str) -> str:
        text = value.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{8}", text):
            raise ValueError(f"not a toy_crc32 value: {value!r}")
        return text


class MeanLuma(ImageSignalType):
    """A toy near type computed from the decoded picture: its mean luma, within 3."""

    name = "toy_mean"
    exact = False
    default_threshold = 3

    def compute_image(self, image: DecodedImage) -> tuple[str, int]:
        return f"{int(image.luma.mean()):02x}", 100

    def normalize(self, value: str) -> str:
        return f"{int(value, 16):02x}"

    def distance(self, a: str, b: str) -> int:
        return abs(int(a, 16) - int(b, 16))


@pytest.fixture
def toys() -> Iterator[tuple[Crc32, MeanLuma]]:
    crc, mean = Crc32(), MeanLuma()
    register_signal_type(crc)
    register_signal_type(mean)
    try:
        yield crc, mean
    finally:
        unregister_signal_type(crc.name)
        unregister_signal_type(mean.name)


def png(shade: int = 90) -> bytes:
    image = Image.new("RGB", (320, 240), (shade, shade, shade))
    ImageDraw.Draw(image).rectangle([40, 40, 200, 160], fill=(250, 20, 60))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# --- one crypto-hash helper -------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 1000, 3 << 20])
def test_exact_hashes_are_hashlibs(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    assert exact_hashes(data) == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    assert exact_hashes(data, (MD5,)) == {"md5": hashlib.md5(data).hexdigest()}
    assert SHA1.compute_bytes(data) == hashlib.sha1(data).hexdigest()


def test_exact_signals_of_undecoded_bytes() -> None:
    """What the crawl records for a file it cannot decode, and what the Shield matches on for a
    video: the crypto hashes and the sniffed type, no PDQ."""
    data = b"PK\x03\x04" + b"\x00" * 200
    signals = compute_exact_signals(data)
    assert (signals.sha256, signals.sha1, signals.md5) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
    )
    assert signals.mime_type == "application/zip" and signals.size_bytes == len(data)
    assert signals.pdq is None and signals.extra == {}


def test_crawls_crypto_only_is_the_helper() -> None:
    from orbweaver.crawl.pipelines import crypto_only

    data = b"\xff\xd8\xff truncated jpeg"
    assert crypto_only(data) == compute_exact_signals(data)


# --- the built-in types -----------------------------------------------------------------------


def test_builtin_types_in_match_order() -> None:
    assert list(signal_types())[:4] == ["sha256", "sha1", "md5", "pdq"]
    assert [get_signal_type(n) for n in ("sha256", "sha1", "md5", "pdq")] == [
        SHA256,
        SHA1,
        MD5,
        PDQ,
    ]
    assert all(t.exact for t in (SHA256, SHA1, MD5)) and not PDQ.exact


def test_thresholds_and_quality_floor() -> None:
    assert (PDQ.default_threshold, PDQ.quality_floor) == (31, 50)
    assert PDQ.threshold_for_bank(12) == 12  # a bank's threshold is a PDQ distance
    assert SHA256.threshold_for_bank(12) == 0 and SHA256.quality_floor is None
    a, far = "0" * 64, "0" * 56 + "ffffffff"
    assert PDQ.distance(a, far) == 32 and not PDQ.matches(a, far) and PDQ.matches(a, far, 32)
    assert MD5.matches("A" * 32, "a" * 32, 5) and not MD5.matches("a" * 32, "b" * 32, 5)


def test_queries_say_why_a_type_was_not_matched() -> None:
    media = MediaSignals("a" * 64, "b" * 40, "c" * 32, 10, None, pdq="d" * 64, pdq_quality=20)
    assert PDQ.queries(media, 50) == (
        (),
        "PDQ quality 20 below 50: too little detail to match perceptually",
    )
    assert PDQ.queries(media, 10) == (("d" * 64,), None)
    no_picture = MediaSignals("a" * 64, "b" * 40, "c" * 32, 10, None)
    assert PDQ.queries(no_picture, 50) == ((), "no PDQ hash (not a decodable image)")
    assert SHA1.queries(no_picture) == (("b" * 40,), None)


def test_registry_refuses_bad_names_and_non_types() -> None:
    for name in ("Upper", "1digit", "has-dash", "x" * 17, "drop'table"):
        bad = CryptoSignalType(name, 8, hashlib.sha256)
        with pytest.raises(ValueError, match="signal type name"):
            register_signal_type(bad)
        assert name not in signal_types()
    with pytest.raises(TypeError):
        register_signal_type("sha512")  # type: ignore[arg-type]


# --- indexes ----------------------------------------------------------------------------------


def test_exact_index_keeps_every_entry_of_a_value() -> None:
    index = ExactIndex()
    index.add(["aa", "bb", "aa"], np.array([1, 2, 3]))
    index.add(["cc"], [4])
    assert len(index) == 4
    assert index.search(["aa", "bb", "zz"]) == [[(1, 0), (3, 0)], [(2, 0)], []]
    assert index.lookup("cc") == [4] and index.lookup("zz") == []


def test_linear_index_is_the_pdq_index_by_brute_force() -> None:
    """The generic near index and PDQ's multi-index hashing answer alike (each a reference for
    the other), planted neighbours at 0..40 bits included."""
    rng = np.random.default_rng(5)
    bank = rng.integers(0, 256, (600, 32), dtype=np.uint8)
    values = [row.tobytes().hex() for row in bank]
    queries = []
    for d in range(0, 41, 4):
        bits = np.unpackbits(bank[d].copy())
        bits[rng.choice(256, d, replace=False)] ^= 1
        queries.append(np.packbits(bits).tobytes().hex())
    queries.append(rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex())
    linear, mih = LinearIndex(PDQ), PDQHexIndex(PDQIndex(delta_capacity=64))  # segments
    for index in (linear, mih):
        index.add(values[:400], np.arange(400))
        loader = index.loader(200)
        loader.extend(values[400:], np.arange(400, 600))
        loader.finish()
        assert len(index) == 600
    for threshold in (0, 8, 31):
        expected = linear.search(queries, threshold)
        assert mih.search(queries, threshold) == expected
    assert linear.search(queries[:1], 31) == [[(0, 0)]]
    assert sum(bool(hits) for hits in linear.search(queries, 31)) == 8  # 0..28 bits away


# --- a type registered from outside is computed without an edit here ------------------------


def test_registered_types_are_computed(toys: tuple[Crc32, MeanLuma]) -> None:
    crc, mean = toys
    data = png()
    assert crc.compute_bytes(data) == f"{zlib.crc32(data):08x}"
    signals = compute_signals(data)
    assert signals.extra == {
        "toy_crc32": crc.compute_bytes(data),
        "toy_mean": mean.compute_image(_decoded(data))[0],
    }
    assert signal_value(signals, "toy_crc32") == signals.extra["toy_crc32"]
    assert signal_value(signals, "sha256") == signals.sha256
    assert signal_value(signals, "unknown") is None
    flat = signals.as_dict()
    assert flat["toy_mean"] == signals.extra["toy_mean"] and "extra" not in flat
    # bytes that are no picture get the byte types only
    assert compute_exact_signals(b"not a picture").extra.keys() == {"toy_crc32"}


def test_registered_crypto_type_joins_the_one_helper(toys: object) -> None:
    blake = CryptoSignalType("toy_blake2b", 128, hashlib.blake2b)
    register_signal_type(blake)
    try:
        data = b"benign bytes"
        assert compute_exact_signals(data).extra["toy_blake2b"] == hashlib.blake2b(data).hexdigest()
    finally:
        unregister_signal_type(blake.name)


def test_hash_command_prints_registered_types(toys: tuple[Crc32, MeanLuma], tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(png())
    record = hash_record(path)
    assert record["toy_crc32"] == f"{zlib.crc32(path.read_bytes()):08x}"
    assert {"sha256", "sha1", "md5", "pdq", "pdq_quality", "toy_mean"} <= set(record)


def _decoded(data: bytes) -> DecodedImage:
    from orbweaver.signals.decode import decode_image

    decoded = decode_image(data)
    assert decoded is not None
    return decoded
