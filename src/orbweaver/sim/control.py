"""The world's clock endpoint, its admin API (for drivers and simulated analysts) and webhooks.

Routes on the control address:
  GET  /clock                       {"now": ISO-8601 UTC}
  GET  /control/clock               same
  POST /control/clock/advance       {"days": d, "hours": h, "seconds": s} or {"to": ISO} -> {"now"}
  GET  /control/truth[?images=0]    ground truth (see truth.py)
  GET  /control/stats               counters
  GET  /control/label/{sha256}      the analysts' label for bytes the world served
  POST /control/labels              {"sha256": [...]} -> {"labels": {sha: label-or-null}}
  GET  /control/classifier/{sha256}?auc=0.9  {"score": s}: the oracle classifier (oracle.py)
  GET  /control/notices             every notice received
  GET  /control/mailbox/{address}   messages received by one abuse mailbox
  GET  /control/info                the world.json dictionary
  GET  /control/faults              which services are down, until when (see faults.py)
  POST /control/faults              {"service": "smtp"|"webhooks"|"dns", "hours": h, "mode"?}
                                    takes one down for that much world time; {"clear": name|true}
Webhooks, on the webhooks address: POST /hooks/{provider-slug} with an X-ARF report (or a list).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from orbweaver.sim import truth
from orbweaver.sim.behaviour import Engine
from orbweaver.sim.catalogue import Catalogue
from orbweaver.sim.clock import WorldClock, iso, parse_iso
from orbweaver.sim.faults import Faults, outage_from_json
from orbweaver.sim.http import Request, Response, json_response, not_found
from orbweaver.sim.notices import reports_from_json
from orbweaver.sim.oracle import oracle_score
from orbweaver.sim.smtp import Mailboxes
from orbweaver.sim.web import MediaStore


class WorldView(Protocol):
    """What the admin API and the webhooks use of the world (the world passes itself), so this
    module does not import `world`, which imports it."""

    clock: WorldClock
    engine: Engine
    catalogue: Catalogue
    media: MediaStore
    mailboxes: Mailboxes
    faults: Faults
    info: dict[str, Any]

    def truth(self, images: bool = True) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...


class Control:
    def __init__(self, world: WorldView) -> None:
        self.world = world

    async def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path in ("/clock", "/control/clock"):
            return json_response({"now": iso(self.world.clock.now())})
        if path == "/control/clock/advance" and req.method == "POST":
            return self.advance(req)
        if path == "/control/truth":
            return json_response(self.world.truth(images=req.arg("images", "1") != "0"))
        if path == "/control/stats":
            return json_response(self.world.stats())
        if path == "/control/info":
            return json_response(self.world.info)
        if path.startswith("/control/label/"):
            label = self.world.media.label(path.rsplit("/", 1)[-1])
            return json_response(label) if label else json_response({"error": "unknown bytes"}, 404)
        if path.startswith("/control/classifier/"):
            return self.classify(path.rsplit("/", 1)[-1], req.arg("auc", "0.9"))
        if path == "/control/labels" and req.method == "POST":
            shas = (req.json() or {}).get("sha256", [])
            return json_response({"labels": {s: self.world.media.label(s) for s in shas}})
        if path == "/control/faults":
            return self.faults(req)
        if path == "/control/notices":
            return json_response([truth.notice_row(n) for n in self.world.engine.ledger.notices])
        if path.startswith("/control/mailbox/"):
            address = path.rsplit("/", 1)[-1].lower()
            return json_response(self.world.mailboxes.boxes.get(address, []))
        return not_found()

    def classify(self, sha256: str, auc_text: str) -> Response:
        """The oracle's score of bytes the world served, at the asked AUC (0.5 to 1)."""
        try:
            auc = float(auc_text)
        except ValueError:
            return json_response({"error": f"auc {auc_text!r} is not a number"}, 400)
        if not 0.5 <= auc <= 1.0:
            return json_response({"error": "auc must lie in [0.5, 1]"}, 400)
        label = self.world.media.label(sha256)
        if label is None:
            return json_response({"error": "unknown bytes"}, 404)
        image_id = int(str(label["image_id"]))
        actionable = label["label"] != "benign"
        seed = int(self.world.info.get("seed", 1))
        return json_response({"score": oracle_score(seed, image_id, actionable, auc), "auc": auc})

    def advance(self, req: Request) -> Response:
        try:
            body: dict[str, Any] = req.json() or {}
            if "to" in body:
                now = self.world.clock.set(parse_iso(str(body["to"])))
            else:
                delta = timedelta(
                    days=float(body.get("days", 0)),
                    hours=float(body.get("hours", 0)),
                    seconds=float(body.get("seconds", 0)),
                )
                now = self.world.clock.advance(delta)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"now": iso(now)})

    def faults(self, req: Request) -> Response:
        if req.method != "POST":
            return json_response(self.world.faults.state())
        try:
            return json_response(outage_from_json(self.world.faults, req.json() or {}))
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return json_response({"error": str(exc)}, 400)


class Webhooks:
    """Providers whose notice channel is a webhook take X-ARF JSON by POST here."""

    def __init__(self, world: WorldView) -> None:
        self.world = world

    async def handle(self, req: Request) -> Response:
        if not req.path.startswith("/hooks/"):
            return not_found()
        slug = req.path[len("/hooks/") :].strip("/")
        party = next((p for p in self.world.catalogue.parties if p.slug == slug), None)
        if party is None:
            return not_found()
        failing = self.world.faults.failing("webhooks")
        if failing == "timeout":
            await self._hold()
        if failing is not None:
            return json_response({"error": "service unavailable"}, 503)
        if req.method != "POST":
            return json_response({"error": "POST an X-ARF report"}, 405)
        try:
            reports = reports_from_json(req.json())
        except ValueError:
            return json_response({"error": "body is not JSON"}, 400)
        if not reports:
            return json_response({"error": "no report with a url"}, 400)
        engine = self.world.engine
        outcomes = [
            engine.receive(party, r.url, "webhook", r.report_id, r.type, r.tags).outcome
            for r in reports
        ]
        self.world.mailboxes.add(
            f"webhook:{slug}",
            {"received_at": iso(engine.clock.now()), "reports": len(reports), "outcomes": outcomes},
        )
        return json_response(
            {"accepted": len(reports), "report_ids": [r.report_id for r in reports]}, 202
        )

    async def _hold(self, limit_s: float = 120.0) -> None:
        """Say nothing while the outage lasts (world time), so the client's timeout decides;
        never longer than `limit_s` of real time."""
        import asyncio

        waited = 0.0
        while self.world.faults.mode("webhooks") == "timeout" and waited < limit_s:
            await asyncio.sleep(0.1)
            waited += 0.1
