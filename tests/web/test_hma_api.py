"""HMA-compatible endpoints (issue 17): `/h/hash`, `/m/lookup`, `/m/raw_lookup`, answered in the
shapes of HMA's published API (its matching blueprint's documented example output and its own
test scenarios: three banks holding the same hash, filtered by one, two and an unknown bank)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from test_web_shield import PDQ, flip, make_client, synthetic_jpeg, wait_for

from orbweaver.banks import create_bank, import_csv, set_entry_enabled
from orbweaver.clock import SettableClock
from orbweaver.signals import compute_signals
from orbweaver.store import Store
from orbweaver.store.models import BankEntry

Api = tuple[TestClient, tuple[str, str]]


def csv_of(*rows: tuple[str, str]) -> io.StringIO:
    body = "".join(f"{t},{s},csam_prepubescent,test\n" for t, s in rows)
    return io.StringIO("signal_type,signal,category,source\n" + body)


def ids(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(
            sa.select(BankEntry.id, BankEntry.bank_id).order_by(BankEntry.id)
        ).all()
    return {name: int(entry) for (entry, _), name in zip(rows, ["A", "B", "C"], strict=False)}


@pytest.fixture
def api(store: Store, clock: SettableClock) -> Iterator[Api]:
    for name in ("BANK_A", "BANK_B", "BANK_C"):
        create_bank(store, clock, name, threshold=31)
        import_csv(store, clock, name, csv_of(("pdq", PDQ)))
    client, auth = make_client(store, clock, shield_refresh_interval_s=0.05)
    wait_for(lambda: client.get("/status").status_code == 200)
    yield client, auth
    client.__exit__(None, None, None)


def test_raw_lookup_lists_entry_ids_and_filters_by_bank(api: Api, store: Store) -> None:
    client, auth = api
    entry = ids(store)
    query = {"signal": flip(PDQ, 5), "signal_type": "pdq"}
    answer = client.get("/m/raw_lookup", params=query, auth=auth)
    assert answer.status_code == 200
    assert answer.json() == {"matches": [entry["A"], entry["B"], entry["C"]]}
    assert client.get("/m/raw_lookup", params={**query, "banks": "BANK_A"}, auth=auth).json() == {
        "matches": [entry["A"]]
    }
    two = client.get("/m/raw_lookup", params={**query, "banks": "BANK_A,BANK_B"}, auth=auth)
    assert len(two.json()["matches"]) == 2
    none = client.get("/m/raw_lookup", params={**query, "banks": "NON_EXISTENT_BANK"}, auth=auth)
    assert none.json() == {"matches": []}
    with_distance = client.get(
        "/m/raw_lookup",
        params={**query, "include_distance": "true", "banks": "BANK_A,BANK_B"},
        auth=auth,
    )
    assert with_distance.json() == {
        "matches": [
            {"bank_content_id": entry["A"], "distance": "5"},
            {"bank_content_id": entry["B"], "distance": "5"},
        ]
    }


def test_lookup_answers_by_bank_in_hmas_documented_shape(api: Api, store: Store) -> None:
    client, auth = api
    entry = ids(store)
    query = {"signal": flip(PDQ, 4), "signal_type": "pdq"}
    answer = client.get("/m/lookup", params=query, auth=auth).json()
    assert answer == {
        "BANK_A": [{"bank_content_id": entry["A"], "distance": "4"}],
        "BANK_B": [{"bank_content_id": entry["B"], "distance": "4"}],
        "BANK_C": [{"bank_content_id": entry["C"], "distance": "4"}],
    }
    only = client.get("/m/lookup", params={**query, "banks": "BANK_A,BANK_C"}, auth=auth).json()
    assert set(only) == {"BANK_A", "BANK_C"}
    assert client.get("/m/lookup", params={**query, "banks": "NOPE"}, auth=auth).json() == {}
    # one bit beyond the threshold (31): nothing
    far = client.get("/m/lookup", params={**query, "signal": flip(PDQ, 32)}, auth=auth)
    assert far.json() == {}


def test_lookup_applies_orbweavers_rules(api: Api, store: Store, clock: SettableClock) -> None:
    """A switched-off entry is gone from both lookups at the next refresh."""
    client, auth = api
    entry = ids(store)
    set_entry_enabled(store, clock, entry["B"], False, reason="collision")
    query = {"signal": PDQ, "signal_type": "pdq"}
    wait_for(lambda: "BANK_B" not in client.get("/m/lookup", params=query, auth=auth).json())
    raw = client.get("/m/raw_lookup", params=query, auth=auth).json()
    assert raw == {"matches": [entry["A"], entry["C"]]}


def test_bad_requests_are_refused(api: Api) -> None:
    client, auth = api
    assert client.get("/m/lookup", params={"signal_type": "pdq"}, auth=auth).status_code == 400
    bad_type = client.get("/m/raw_lookup", params={"signal": PDQ, "signal_type": "x"}, auth=auth)
    assert bad_type.status_code == 400
    bad = client.get("/m/raw_lookup", params={"signal": "zz", "signal_type": "pdq"}, auth=auth)
    assert bad.status_code == 400
    assert (
        client.get("/m/raw_lookup", params={"signal": PDQ, "signal_type": "pdq"}).status_code == 401
    )
    assert (
        client.get("/h/hash", params={"url": "http://127.0.0.1/x.jpg"}, auth=auth).status_code
        == 403
    )


def test_hash_and_lookup_an_uploaded_photo(store: Store, clock: SettableClock) -> None:
    data = synthetic_jpeg(3)
    signals = compute_signals(data)
    assert signals.pdq is not None
    create_bank(store, clock, "KNOWN")
    import_csv(store, clock, "KNOWN", csv_of(("pdq", flip(signals.pdq, 2)), ("md5", signals.md5)))
    client, auth = make_client(store, clock, shield_refresh_interval_s=0.05)
    try:
        wait_for(lambda: client.get("/status").status_code == 200)
        hashed = client.post("/h/hash", files={"photo": ("a.jpg", data)}, auth=auth)
        assert hashed.status_code == 200, hashed.text
        assert hashed.json()["pdq"] == signals.pdq and hashed.json()["md5"] == signals.md5
        picked = client.post(
            "/h/hash", params={"types": "pdq"}, files={"photo": ("a.jpg", data)}, auth=auth
        )
        assert picked.json() == {"pdq": signals.pdq}
        found = client.post("/m/lookup", files={"photo": ("a.jpg", data)}, auth=auth).json()
        assert [m["distance"] for m in found["pdq"]["KNOWN"]] == ["2"]
        assert [m["distance"] for m in found["md5"]["KNOWN"]] == ["0"]
        assert found["sha256"] == {}
        wrong = client.post("/h/hash", files={"text": ("a.txt", b"hello")}, auth=auth)
        assert wrong.status_code == 400
        two = client.post(
            "/h/hash", files=[("photo", ("a.jpg", data)), ("photo", ("b.jpg", data))], auth=auth
        )
        assert two.status_code == 400
    finally:
        client.__exit__(None, None, None)
