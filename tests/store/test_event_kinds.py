"""Event kinds are one typed catalogue: the log takes no other kind, every call site names its
kind from the catalogue, the monitor's cadence fields are the ones documented, and
docs/architecture.md lists exactly the catalogue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

from orbweaver.clock import SettableClock
from orbweaver.monitor import CADENCE_EVENT
from orbweaver.store import CATALOGUE, EventKind, Store, record_event
from orbweaver.store.events import catalogue_markdown
from orbweaver.store.models import Event

ROOT = Path(__file__).resolve().parents[2]


def test_an_unknown_kind_is_refused_and_nothing_lands(store: Store, clock: SettableClock) -> None:
    with pytest.raises(ValueError, match=r"notice\.teleported"), store.session() as session:
        record_event(session, clock, "notice.teleported")  # type: ignore[arg-type]
    with store.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_a_catalogued_kind_is_stored_as_its_name(store: Store, clock: SettableClock) -> None:
    with store.session() as session:
        record_event(session, clock, EventKind.NOTICE_REMOVED, subject_type="notice")
        record_event(session, clock, EventKind.sent("followup"))
    with store.session() as session:
        kinds = session.scalars(sa.select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["notice.removed", "followup.sent"]


def test_every_kind_is_catalogued() -> None:
    assert list(CATALOGUE) == list(EventKind)


def test_the_cadence_event_documents_the_cadence_fields() -> None:
    from orbweaver.monitor.settings import CADENCE_FIELDS

    assert CADENCE_EVENT is EventKind.MONITOR_CADENCE
    assert CATALOGUE[EventKind.MONITOR_CADENCE].payload == CADENCE_FIELDS


def _kind_arguments() -> list[tuple[str, ast.expr]]:
    found = []
    for path in sorted((ROOT / "src" / "orbweaver").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "record_event":
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.args[2]))
    return found


def test_every_call_site_names_its_kind_from_the_catalogue() -> None:
    calls = _kind_arguments()
    assert len(calls) > 20
    bare = [
        where
        for where, arg in calls
        if not (ast.unparse(arg).startswith("EventKind.") or ast.unparse(arg) == "CADENCE_EVENT")
    ]
    assert bare == []


def test_the_architecture_document_lists_the_catalogue() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Event kinds\n", 1)[1].split("\n## ", 1)[0]
    table = section[section.index("| kind |") :].strip() + "\n"
    assert table == catalogue_markdown()


def test_literal_payloads_have_the_catalogued_keys() -> None:
    """Where a call site spells its payload out, its keys are the catalogue's (the optional
    ones, marked `?`, may be missing)."""
    wrong = []
    for path in sorted((ROOT / "src" / "orbweaver").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "record_event"):
                continue
            payload = next((k.value for k in node.keywords if k.arg == "payload"), None)
            kind = ast.unparse(node.args[2])
            if not isinstance(payload, ast.Dict) or not kind.startswith("EventKind."):
                continue
            spec = CATALOGUE[EventKind[kind.removeprefix("EventKind.")]]
            keys = {k.value for k in payload.keys if isinstance(k, ast.Constant)}
            required = {key for key in spec.payload if not key.endswith("?")}
            allowed = {key.rstrip("?") for key in spec.payload}
            if not required <= keys <= allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} {kind} {sorted(keys)}")
    assert wrong == []
