"""A signal type registered from outside (as vPDQ or a licensed PhotoDNA would be) works through
bank import and export, the matcher and the Shield API with no edit anywhere else: each of these
fails while a list of types is still spelled out in banks, the matcher, the verdict or the Shield.

The toys: `toy_crc32`, exact, computed from the bytes (a dict index); `toy_head`, near, the
first 8 bytes compared by Hamming distance within 4 (the generic brute-force index).
"""

from __future__ import annotations

import io
import random
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from orbweaver.access import create_client
from orbweaver.banks import create_bank, import_csv
from orbweaver.banks.matcher import Matcher
from orbweaver.banks.service import export_csv_text
from orbweaver.clock import SettableClock
from orbweaver.signals import BytesSignalType, hamming, register_signal_type, unregister_signal_type
from orbweaver.store import Store
from orbweaver.store.models import BankEntry
from orbweaver.web.app import create_app
from orbweaver.web.settings import WebSettings


class Crc32(BytesSignalType):
    name = "toy_crc32"

    def compute_bytes(self, data: bytes) -> str:
        return f"{zlib.crc32(data):08x}"

    def normalize(self, value: str) -> str:
        text = value.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{8}", text):
            raise ValueError(f"not a toy_crc32 value (8 hex characters): {value!r}")
        return text


class HeadBits(BytesSignalType):
    name = "toy_head"
    exact = False
    default_threshold = 4

    def compute_bytes(self, data: bytes) -> str:
        return data[:8].ljust(8, b"\0").hex()

    def normalize(self, value: str) -> str:
        text = value.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{16}", text):
            raise ValueError(f"not a toy_head value (16 hex characters): {value!r}")
        return text

    def distance(self, a: str, b: str) -> int:
        return hamming(self.normalize(a), self.normalize(b))


CRC, HEAD = Crc32(), HeadBits()
KNOWN = b"benign synthetic bytes standing for a known file"
NEAR = bytes([KNOWN[0] ^ 0b101]) + KNOWN[1:] + b" re-encoded"  # toy_head 2 bits away
FAR = bytes([KNOWN[0] ^ 0b11111]) + KNOWN[1:]  # 5 bits away: beyond toy_head's 4


@pytest.fixture(autouse=True)
def toys() -> Iterator[None]:
    register_signal_type(CRC)
    register_signal_type(HEAD)
    try:
        yield
    finally:
        unregister_signal_type(CRC.name)
        unregister_signal_type(HEAD.name)


def bank_csv(*rows: tuple[str, str, str]) -> io.StringIO:
    body = "".join(f"{t},{s},{c},toy\n" for t, s, c in rows)
    return io.StringIO("signal_type,signal,category,source\n" + body)


@pytest.fixture
def toy_bank(store: Store, clock: SettableClock) -> Store:
    create_bank(store, clock, "toys", threshold=31)
    report = import_csv(
        store,
        clock,
        "toys",
        bank_csv(
            ("toy_crc32", CRC.compute_bytes(KNOWN).upper(), "csam_prepubescent"),
            ("toy_head", HEAD.compute_bytes(KNOWN), "harmful_abusive"),
            ("toy_crc32", "not-hex!", "csam_prepubescent"),
            ("sha256", "ab" * 32, "csam_postpubescent"),
        ),
    )
    assert (report.added, [line for line, _ in report.errors]) == (3, [4])
    assert "not a toy_crc32 value" in report.errors[0][1]
    return store


@dataclass(frozen=True)
class Upload:
    """A media as the matcher reads it: built-in fields, other types in `extra`."""

    sha256: str = "0" * 64
    sha1: str = "0" * 40
    md5: str = "0" * 32
    pdq: str | None = None
    pdq_quality: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


def of(data: bytes) -> Upload:
    return Upload(
        extra={"toy_crc32": CRC.compute_bytes(data), "toy_head": HEAD.compute_bytes(data)}
    )


def test_bank_import_normalises_and_exports_a_new_type(
    toy_bank: Store, clock: SettableClock
) -> None:
    with toy_bank.session() as session:
        stored = dict(
            session.execute(
                sa.select(BankEntry.signal_type, BankEntry.signal).where(
                    BankEntry.signal_type.like("toy_%")
                )
            ).all()
        )
    assert stored == {"toy_crc32": CRC.compute_bytes(KNOWN), "toy_head": HEAD.compute_bytes(KNOWN)}
    text = export_csv_text(toy_bank, "toys")
    create_bank(toy_bank, clock, "copy")
    again = import_csv(toy_bank, clock, "copy", io.StringIO(text))
    assert (again.added, again.errors) == (3, [])
    assert export_csv_text(toy_bank, "copy") == text


def test_matcher_indexes_and_matches_a_new_type(toy_bank: Store) -> None:
    matcher = Matcher(toy_bank)
    matcher.refresh()
    assert [t.name for t in matcher.signal_types][-2:] == ["toy_crc32", "toy_head"]
    found = matcher.match(of(KNOWN)).matches
    assert [(m.signal_type, m.distance, m.category) for m in found] == [
        ("toy_crc32", 0, "csam_prepubescent"),
        ("toy_head", 0, "harmful_abusive"),
    ]
    near = matcher.match(of(NEAR)).matches
    assert [(m.signal_type, m.distance) for m in near] == [("toy_head", 2)]
    assert matcher.match(of(FAR)).matches == []  # the type's own threshold, not the bank's 31
    assert matcher.match_exact("toy_crc32", CRC.compute_bytes(KNOWN).upper())[0].distance == 0
    assert [
        len(r) for r in matcher.match_many("toy_head", [HEAD.compute_bytes(NEAR), "0" * 16])
    ] == [1, 0]


def test_entries_of_a_type_no_longer_registered_are_skipped(toy_bank: Store) -> None:
    unregister_signal_type(HEAD.name)
    matcher = Matcher(toy_bank)
    matcher.refresh()
    assert matcher.size == 3  # counted, not indexed
    assert [m.signal_type for m in matcher.match(of(KNOWN)).matches] == ["toy_crc32"]
    assert matcher.match_many("toy_head", [HEAD.compute_bytes(KNOWN)]) == [[]]
    assert [m.signal_type for m in matcher.match(Upload(sha256="ab" * 32)).matches] == ["sha256"]


def test_shield_computes_matches_and_classifies_a_new_type(
    toy_bank: Store, clock: SettableClock
) -> None:
    """`/v1/media/` computes every registered byte type, and the verdict asks the registry
    whether a match is exact: `toy_crc32` answers `exact`, `toy_head` `near`."""
    username, secret = create_client(toy_bank, clock, f"c{random.random()}").split(":")
    app = create_app(WebSettings(**cast(dict[str, Any], {})), toy_bank, clock)
    with TestClient(app) as client:
        for _ in range(500):
            if client.get("/status").status_code == 200:  # the index has loaded
                break
            time.sleep(0.02)
        headers = {"content-type": "video/mp4"}
        answers = [
            client.post("/v1/media/", content=data, headers=headers, auth=(username, secret))
            for data in (KNOWN, NEAR, FAR)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    known, near, far = (a.json() for a in answers)
    assert (known["classification"], known["match_type"]) == ("csam", "exact")
    assert (near["classification"], near["match_type"]) == ("harmful-abusive-material", "near")
    assert near["near_match_details"][0]["classification"] == "harmful-abusive-material"
    assert (far["classification"], far["match_type"]) == ("no-known-match", None)
