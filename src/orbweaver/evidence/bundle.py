"""A notice's evidence bundle: one WARC file of every record of its detections, and a manifest
(the sha256 of every record, as written at capture and as exported, the notice, its
detections, the times) signed with the deployment's Ed25519 key.

`export_bundle` writes `evidence.warc.gz`, `manifest.json` (canonical JSON: sorted keys, no
spaces, so the bytes signed are the bytes written) and `manifest.sig` (base64). `verify_bundle`
checks the signature (against the deployment's public key when given, else the one the
manifest names, which it says), the WARC file's hash, and every record's slice of it: one byte
changed anywhere fails the check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.store import EventKind, record_event, store_now
from orbweaver.store.models import (
    Detection,
    EvidenceRecord,
    Media,
    Notice,
    NoticeItem,
    Provider,
    Sighting,
)

FORMAT = "orbweaver-evidence/1"
WARC_NAME = "evidence.warc.gz"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"


class EvidenceError(ValueError):
    """No such notice, no key, no evidence, or a bundle that is not one."""


def new_signing_key() -> str:
    """A fresh Ed25519 key (its 32-byte seed, URL-safe base64): EVIDENCE_SIGNING_KEY."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def signing_key(text: str) -> Ed25519PrivateKey:
    try:
        seed = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError) as exc:
        raise EvidenceError("ORBWEAVER_EVIDENCE_SIGNING_KEY is not base64") from exc
    if len(seed) != 32:
        raise EvidenceError("ORBWEAVER_EVIDENCE_SIGNING_KEY must be 32 bytes (evidence keygen)")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw public key, URL-safe base64: what a verifier is given out of band."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode()


def canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _notice_part(session: Session, n: Notice) -> dict[str, Any]:
    provider = session.get(Provider, n.provider_id) if n.provider_id else None
    return {
        "id": n.id,
        "url": n.url,
        "report_id": n.report_id,
        "provider": provider.name if provider else None,
        "status": n.status,
        "category": n.category,
        "created_at": _iso(n.created_at),
        "first_sent_at": _iso(n.first_sent_at),
        "removed_at": _iso(n.removed_at),
    }


def _detections(session: Session, notice_id: int) -> list[tuple[Detection, Sighting, Media]]:
    return [
        (d, s, m)
        for d, s, m in session.execute(
            select(Detection, Sighting, Media)
            .join(NoticeItem, NoticeItem.detection_id == Detection.id)
            .join(Sighting, Sighting.id == Detection.sighting_id)
            .join(Media, Media.id == Sighting.media_id)
            .where(NoticeItem.notice_id == notice_id)
            .order_by(Detection.id)
        )
    ]


def export_bundle(
    session: Session, clock: Clock, notice_id: int, out: Path, key_text: str, *, actor: str
) -> dict[str, Any]:
    """Write the notice's bundle into `out` (created if need be); returns the manifest.
    Audited (`evidence.exported`)."""
    if not key_text:
        raise EvidenceError("no ORBWEAVER_EVIDENCE_SIGNING_KEY: `orbweaver evidence keygen`")
    key = signing_key(key_text)
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise EvidenceError(f"no notice {notice_id}")
    found = _detections(session, notice_id)
    sightings = sorted({s.id for _, s, _ in found})
    rows = list(
        session.scalars(
            select(EvidenceRecord)
            .where(EvidenceRecord.sighting_id.in_(sightings))
            .order_by(EvidenceRecord.sighting_id, EvidenceRecord.id)
        )
    )
    if not rows:
        raise EvidenceError(f"notice {notice_id} has no evidence records")
    out.mkdir(parents=True, exist_ok=True)
    records, offset, warc = [], 0, hashlib.sha256()
    with open(out / WARC_NAME, "wb") as fh:
        for row in rows:
            entry = _record_entry(row, offset)
            if row.warc is not None:
                fh.write(row.warc)
                warc.update(row.warc)
                offset += len(row.warc)
            records.append(entry)
    manifest = {
        "format": FORMAT,
        "exported_at": _iso(store_now(clock)),
        "public_key": public_key_text(key),
        "notice": _notice_part(session, notice),
        "detections": [
            {
                "id": d.id,
                "sighting_id": s.id,
                "url": s.url,
                "page_url": s.page_url,
                "archive_url": s.archive_url,
                "member_path": s.member_path,
                "seen_at": _iso(s.seen_at),
                "detected_at": _iso(d.detected_at),
                "category": d.category,
                "signal_type": d.signal_type,
                "distance": d.distance,
                "media": {"sha256": m.sha256, "md5": m.md5, "sha1": m.sha1, "pdq": m.pdq},
            }
            for d, s, m in found
        ],
        "warc": {"file": WARC_NAME, "bytes": offset, "sha256": warc.hexdigest()},
        "records": records,
    }
    body = canonical(manifest)
    (out / MANIFEST_NAME).write_bytes(body)
    (out / SIGNATURE_NAME).write_text(base64.b64encode(key.sign(body)).decode() + "\n")
    record_event(
        session,
        clock,
        EventKind.EVIDENCE_EXPORTED,
        subject_type="notice",
        subject_id=notice_id,
        actor=actor,
        payload={"records": len(records), "warc_sha256": warc.hexdigest()},
    )
    return manifest


def _record_entry(row: EvidenceRecord, offset: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": row.id,
        "sighting_id": row.sighting_id,
        "kind": row.kind,
        "url": row.url,
        "captured_at": _iso(row.captured_at),
        "sha256": row.sha256,
        "bytes": row.size_bytes,
    }
    if row.warc is None:
        entry["pruned_at"] = _iso(row.pruned_at)  # retention ran out: the hash remains
    else:
        entry["offset"] = offset
    return entry


@dataclass
class Verification:
    ok: bool
    key: str = ""
    key_source: str = ""
    problems: list[str] = field(default_factory=list)
    records: int = 0


def verify_bundle(folder: Path, public_key: str = "") -> Verification:
    """Check a bundle: signature, the WARC file's hash, every record's bytes."""
    result = Verification(ok=False)
    try:
        body = (folder / MANIFEST_NAME).read_bytes()
        signature = base64.b64decode((folder / SIGNATURE_NAME).read_text().strip())
        manifest = json.loads(body)
        warc = (folder / WARC_NAME).read_bytes()
    except (OSError, ValueError, binascii.Error) as exc:
        result.problems.append(f"not a readable bundle: {exc}")
        return result
    given = public_key or str(manifest.get("public_key", ""))
    result.key = given
    result.key_source = "given" if public_key else "the manifest's own (compare it!)"
    try:
        raw = base64.urlsafe_b64decode(given.encode())
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, body)
    except (InvalidSignature, ValueError, binascii.Error):
        result.problems.append("signature does not match the manifest")
    if manifest.get("public_key") != given:
        result.problems.append("the manifest names another signing key")
    if hashlib.sha256(warc).hexdigest() != manifest.get("warc", {}).get("sha256"):
        result.problems.append(f"{WARC_NAME}: sha256 differs from the manifest")
    for entry in manifest.get("records", []):
        if "offset" not in entry:
            continue
        piece = warc[entry["offset"] : entry["offset"] + entry["bytes"]]
        if hashlib.sha256(piece).hexdigest() != entry["sha256"]:
            result.problems.append(f"record {entry['id']} ({entry['kind']}): sha256 differs")
        result.records += 1
    result.ok = not result.problems
    return result
