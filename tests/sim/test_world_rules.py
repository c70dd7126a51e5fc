"""The world's hard rules and contracts: loopback only, scenario forms, world.json keys, media."""

from __future__ import annotations

import socket
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from orbweaver.sim import World, catalogue, media, net, scenario
from orbweaver.sim.scenario import SCENARIO_DIR

SCENARIOS = SCENARIO_DIR
SEED_TABLE = Path(__file__).resolve().parents[1] / "data" / "seed" / "table-1.0.csv"


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "10.0.0.1", "192.168.1.5", "::1", "localhost", "128.0.0.1"]
)
def test_binding_outside_loopback_is_refused_before_any_socket(host: str, no_sockets: None) -> None:
    with pytest.raises(net.LoopbackOnlyError):
        net.tcp_socket(host, 8080)
    with pytest.raises(net.LoopbackOnlyError):
        net.udp_socket(host, 5353)


def test_world_with_a_non_loopback_address_refuses_to_start(no_sockets: None) -> None:
    with pytest.raises(net.LoopbackOnlyError):
        World(SCENARIOS / "small.toml", addresses={"control": "0.0.0.0"})


def test_seed_table_loads_as_is() -> None:
    path = SEED_TABLE if SEED_TABLE.exists() else SCENARIOS / "table-1.0.csv"
    sc = scenario.load(path)
    assert len(sc.providers) == 18
    venue = sc.provider("ImageVenue")
    assert venue.targeted == 143892 and venue.behaviour.recidivism_rate == 0.875
    cat, _ = catalogue.build(sc, scale=0.001, seed=1)
    per = {
        p.name: sum(len(i.image_ids) for s in p.sites if s.frontline is p for i in s.items)
        for p in cat.providers
    }
    assert per["ImageBam"] >= 6  # 6339 x 0.001, plus benign neighbours
    cdn = cat.party("CloudFlare")
    assert all(s.cdn is cdn and s.host is not cdn for s in cdn.sites if s.frontline is cdn)


def test_rich_scenario_overrides_the_table() -> None:
    sc = scenario.load(SCENARIOS / "table-1.0.toml")
    assert sc.provider("ImageBam").notice_channel == "webhook"
    assert sc.provider("ColoCrossing").behaviour.escalation_effect == 0.9
    assert sc.provider("ColoCrossing").behaviour.removal_median_days == 27
    with pytest.raises(scenario.ScenarioError):
        scenario.from_dict({"providers": [{"name": "x", "no_such_key": 1}]})


def test_world_json_has_every_contract_key(world: World) -> None:
    keys = {
        "dns",
        "rdap_bootstrap",
        "tor_proxy",
        "smtp",
        "webhooks",
        "clock",
        "control",
        "seeds",
        "known_hashes_csv",
        "allow_networks",
        "http_port",
    }
    assert keys <= set(world.info)
    header, *rows = Path(world.info["known_hashes_csv"]).read_text().splitlines()
    assert header == "signal_type,signal,category,source"
    types = {r.split(",")[0] for r in rows}
    assert types == {"sha256", "md5", "pdq"}
    assert all(len(r.split(",")[1]) == 64 for r in rows if r.startswith("pdq"))
    assert any(u.endswith(".onion/") for u in world.info["seeds"])


def test_archives_hold_the_pictures_and_encrypted_ones_need_the_password(world: World) -> None:
    archives = [i for i in world.catalogue.items if i.kind == "archive"]
    assert archives
    for item in archives[:4]:
        data = world.media.item_bytes(item)
        if item.archive_fmt == "zip" and item.password is None:
            with zipfile.ZipFile(BytesIO(data)) as zf:
                assert len(zf.namelist()) == len(item.members)
        elif item.archive_fmt == "zip":
            import pyzipper

            with pyzipper.AESZipFile(BytesIO(data)) as zf:
                zf.setpassword(item.password.encode())
                assert zf.read(zf.namelist()[0])[:2] in (b"\xff\xd8", b"\x89P", b"RI", b"GI")
        else:
            import py7zr

            with py7zr.SevenZipFile(BytesIO(data), password=item.password) as sz:
                assert len(sz.getnames()) == len(item.members)


def test_variants_differ_in_bytes_but_not_in_picture() -> None:
    import random

    pic = media.Picture(seed=42, width=400, height=320, fmt="jpeg")
    orig = media.render(pic)
    assert media.render(pic) == orig  # deterministic
    base = int(media.pdq_hex(pic), 16)
    for kind in ("reencode", "resize", "mirror"):
        variant = media.draw_variant(random.Random(1), kind, pic)
        data = media.render(pic, variant)
        assert data != orig
        if kind != "mirror":  # a mirror matches only through PDQ's dihedral variants
            import numpy as np
            import pdqhash
            from PIL import Image

            bits, _ = pdqhash.compute(np.asarray(Image.open(BytesIO(data)).convert("RGB")))
            h = int(np.packbits(bits.astype(np.uint8)).tobytes().hex(), 16)
            assert bin(h ^ base).count("1") <= 31
