"""The review domain on SQLite and PostgreSQL: queue, priority, grouping, consensus, verdicts."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image, ImageFilter, ImageStat
from review_world import PASSWORD, World, pdq_hex

from orbweaver.review.decisions import detect_sightings, merge_severity, xarf_class
from orbweaver.review.errors import Forbidden, ReviewError
from orbweaver.store.models import (
    AllowListEntry,
    AuditEntry,
    Bank,
    BankEntry,
    Detection,
    Event,
    Media,
    ReviewItem,
    Suspect,
    Verdict,
)


def items(world: World) -> list[ReviewItem]:
    with world.store.session() as s:
        return list(s.scalars(sa.select(ReviewItem).order_by(ReviewItem.id)))


def test_one_item_per_sha256_however_many_sightings(world: World) -> None:
    media = world.media(1)
    world.suspect(1, "a.example.test", media=media)
    world.suspect(1, "b.example.test", media=media)
    world.suspect(2)
    report = world.service().sync()
    assert report.suspects == 3 and report.new_items == 2
    first = items(world)[0]
    assert first.sightings == 2 and "2 sightings on 2 host(s)" in first.reasons
    with world.store.session() as s:
        assert set(s.scalars(sa.select(Suspect.status))) == {"queued"}


def test_priority_order_and_reasons(world: World) -> None:
    world.detections_on("busy.example.test", 20)
    old = world.suspect(1, "quiet.example.test", ago=timedelta(days=10))  # gone, probably
    busy = world.suspect(2, "busy.example.test")
    plain = world.suspect(3, "quiet.example.test")
    svc = world.service(review_queue_order="priority")  # not the default since issue 18
    svc.sync()
    order = [i.media_id for i in svc.top()]
    assert order == [busy, plain, old]
    reasons = {i.media_id: i.reasons for i in svc.top()}
    assert reasons[busy][0].startswith("still online")
    assert "site busy.example.test has 20 detections" in reasons[busy]
    assert reasons[old][0].startswith("may be gone")


def test_close_pdq_to_a_known_entry_raises_priority(world: World) -> None:
    bank = world.service().bank_id()
    with world.store.session() as s:
        s.add(
            BankEntry(
                bank_id=bank,
                signal_type="pdq",
                signal=pdq_hex(77),
                category="csam_prepubescent",
                source="t",
                added_at=world.clock.now().replace(tzinfo=None),
            )
        )
    far = world.suspect(1)
    near = world.suspect(2, pdq=pdq_hex(77, flips=40))  # outside the threshold of 31, but close
    svc = world.service(review_queue_order="priority")
    svc.sync()
    top = svc.top()
    assert [i.media_id for i in top] == [near, far]
    assert "PDQ 40 bits from a known entry (bank threshold 31)" in top[0].reasons


def test_near_duplicates_are_grouped_and_share_the_verdict(world: World) -> None:
    svc = world.service()
    lead = world.suspect(1, pdq=pdq_hex(5))
    svc.sync()
    dup = world.suspect(2, pdq=pdq_hex(5, flips=8))
    report = svc.sync()
    assert report.grouped == 1
    lead_item, dup_item = items(world)
    assert dup_item.status == "grouped" and dup_item.group_id == lead_item.id
    assert dup_item.group_distance == 8
    alice, bob = world.user("alice"), world.user("bob")
    svc.assess(alice, lead_item.id, "harmful_abusive", None)
    outcome = svc.assess(bob, lead_item.id, "harmful_abusive", None)
    assert outcome.status == "decided" and outcome.detections == 2
    with world.store.session() as s:
        shas = {s.get_one(Media, m).sha256 for m in (lead, dup)}
        banked = set(
            s.scalars(sa.select(BankEntry.signal).where(BankEntry.signal_type == "sha256"))
        )
        assert shas <= banked
        assert s.get_one(ReviewItem, dup_item.id).status == "decided"


def test_consensus_banks_detects_and_deletes_bytes(world: World) -> None:
    media = world.media(1)
    world.sighting(media[0], "old.example.test", ago=timedelta(days=30))  # a past sighting
    world.suspect(1, media=media)
    svc = world.service()
    svc.sync()
    alice, bob = world.user("alice"), world.user("bob")
    item_id = svc.next_item(alice)
    assert item_id is not None
    first = svc.assess(alice, item_id, "csam_prepubescent", "lascivious_exhibition")
    assert (first.status, first.verdict, first.detections) == ("open", None, 0)
    assert items(world)[0].assessments == 1
    assert svc.next_item(alice) is None, "an analyst never gets the same image twice"
    with pytest.raises(Forbidden):
        svc.assess(alice, item_id, "csam_prepubescent", None)
    with pytest.raises(Forbidden):
        svc.image(alice, item_id, clear=False)
    assert svc.next_item(bob) == item_id
    outcome = svc.assess(bob, item_id, "csam_prepubescent", "sex_act")
    assert outcome.status == "decided" and outcome.detections == 2
    with world.store.session() as s:
        hotline = s.scalars(sa.select(Bank).where(Bank.name == "hotline")).one()
        entries = s.execute(
            sa.select(BankEntry.signal_type, BankEntry.category).where(
                BankEntry.bank_id == hotline.id
            )
        ).all()
        assert sorted(entries) == [("pdq", "csam_prepubescent"), ("sha256", "csam_prepubescent")]
        assert s.scalar(sa.select(sa.func.count(Detection.id))) == 2
        assert set(s.scalars(sa.select(Detection.distance))) == {0}  # sha256: exact
        assert s.scalars(sa.select(Suspect.ciphertext)).all() == [None]
        kinds = set(s.scalars(sa.select(AuditEntry.action)))
        assert {"assessment", "verdict", "bank.entries_added"} <= kinds
        verdict = s.scalars(sa.select(Event).where(Event.kind == "review.verdict")).one()
        assert verdict.payload["xarf"] == "A1"  # the graver severity wins
        decided = s.scalars(sa.select(Verdict)).one()
        assert (decided.via, decided.decided_by) == ("consensus", "consensus")


def test_an_item_awaiting_its_second_assessment_comes_before_fresh_ones(world: World) -> None:
    world.suspect(1)
    world.suspect(2)
    svc = world.service()
    svc.sync()
    alice, bob = world.user("alice"), world.user("bob")
    top = svc.next_item(bob)
    other = next(i.id for i in items(world) if i.id != top)
    svc.assess(alice, other, "harmful_abusive", None)
    assert svc.next_item(bob) == other


def test_disagreement_goes_to_an_uninvolved_senior(world: World) -> None:
    world.suspect(1)
    svc = world.service()
    svc.sync()
    alice, bob = world.user("alice"), world.user("bob")
    carol, dave = world.user("carol", "senior_analyst"), world.user("dave", "senior_analyst")
    item_id = svc.next_item(alice)
    assert item_id is not None
    svc.assess(alice, item_id, "csam_postpubescent", None)
    assert svc.assess(carol, item_id, "not_actionable", None).status == "adjudication"
    assert svc.next_item(bob) is None
    with pytest.raises(Forbidden):
        svc.adjudicate(bob, item_id, "not_actionable", None)
    with pytest.raises(Forbidden):
        svc.adjudicate(carol, item_id, "not_actionable", None)
    assert [v.id for v in svc.disputed(dave)] == [item_id]
    assert len(svc.image(dave, item_id, clear=False)[0]) > 0
    outcome = svc.adjudicate(dave, item_id, "not_actionable", None)
    assert outcome.status == "decided"
    with world.store.session() as s:
        decided = s.scalars(sa.select(Verdict)).one()
        assert (decided.via, decided.decided_by) == ("adjudication", "dave")


def test_not_actionable_allow_lists_so_it_never_queues_again(world: World) -> None:
    media = world.media(1)
    world.suspect(1, media=media)
    svc = world.service()
    svc.sync()
    alice, bob = world.user("alice"), world.user("bob")
    item_id = items(world)[0].id
    svc.assess(alice, item_id, "not_actionable", None)
    outcome = svc.assess(bob, item_id, "not_actionable", None)
    assert (outcome.status, outcome.verdict, outcome.detections) == (
        "decided",
        "not_actionable",
        0,
    )
    with world.store.session() as s:
        allowed = set(s.execute(sa.select(AllowListEntry.signal_type, AllowListEntry.signal)).all())
        assert {t for t, _ in allowed} == {"sha256", "pdq"}
    # The same bytes elsewhere, and another media with the same PDQ: neither queues.
    world.suspect(1, "elsewhere.example.test", media=media)
    world.suspect(9, pdq=pdq_hex(1))
    report = svc.sync()
    assert report.decided == 1 and report.allowed == 1 and report.new_items == 0
    with world.store.session() as s:
        assert set(s.scalars(sa.select(Suspect.ciphertext))) == {None}
        assert s.scalar(sa.select(sa.func.count(Detection.id))) == 0


def test_each_dismissed_media_gets_its_own_allow_list_entries(world: World) -> None:
    world.suspect(1)
    world.suspect(2)
    svc = world.service(review_consensus=1)
    svc.sync()
    for item in items(world):
        svc.assess(world.user(f"a{item.id}"), item.id, "not_actionable", None)
    with world.store.session() as s:
        shas = set(s.scalars(sa.select(Media.sha256)))
        allowed = s.execute(sa.select(AllowListEntry.signal_type, AllowListEntry.signal)).all()
    assert len(shas) == 2 and {sig for t, sig in allowed if t == "sha256"} == shas
    assert len(allowed) == 4  # a sha256 and a PDQ each


def test_new_sighting_of_confirmed_media_becomes_a_detection(world: World) -> None:
    media = world.media(1)
    world.suspect(1, media=media)
    svc = world.service(review_consensus=1)
    svc.sync()
    svc.assess(world.user("alice"), items(world)[0].id, "harmful_abusive", None)
    world.suspect(1, "again.example.test", media=media)
    assert svc.sync().decided == 1
    with world.store.session() as s:
        assert s.scalar(sa.select(sa.func.count(Detection.id))) == 2
        assert set(s.scalars(sa.select(Suspect.status))) == {"confirmed"}


def test_a_sighting_is_detected_once_per_bank_entry(world: World) -> None:
    media = world.media(1)
    world.suspect(1, media=media)
    svc = world.service(review_consensus=1)
    svc.sync()
    svc.assess(world.user("alice"), items(world)[0].id, "harmful_abusive", None)
    with world.store.session() as s:
        entry = s.scalars(sa.select(BankEntry.id).where(BankEntry.signal_type == "sha256")).one()
        # The verdict made the detection; asking again adds none.
        assert detect_sightings(s, world.clock, media[0], entry, "harmful_abusive") == 0
        assert s.scalar(sa.select(sa.func.count(Detection.id))) == 1


def test_split_takes_only_a_grouped_member_out_of_its_group(world: World) -> None:
    svc = world.service()
    world.suspect(1, pdq=pdq_hex(5))
    svc.sync()
    world.suspect(2, pdq=pdq_hex(5, flips=8))
    svc.sync()
    lead_item, dup_item = items(world)
    alice = world.user("alice")
    with pytest.raises(ReviewError, match="not a grouped near-duplicate"):
        svc.split(alice, lead_item.id)
    assert svc.split(alice, dup_item.id) == lead_item.id
    split = items(world)[1]
    assert (split.status, split.group_id, split.group_distance) == ("open", None, None)
    with pytest.raises(ReviewError, match="not a grouped near-duplicate"):
        svc.split(alice, dup_item.id)


def test_a_decided_member_cannot_be_split(world: World) -> None:
    svc = world.service()
    world.suspect(1, pdq=pdq_hex(5))
    svc.sync()
    world.suspect(2, pdq=pdq_hex(5, flips=8))
    svc.sync()
    lead_item, dup_item = items(world)
    for name in ("alice", "bob"):
        svc.assess(world.user(name), lead_item.id, "harmful_abusive", None)
    assert items(world)[1].status == "decided"
    with pytest.raises(ReviewError, match="not a grouped near-duplicate"):
        svc.split(world.user("carol"), dup_item.id)


def test_awaiting_items_keep_their_order_whatever_their_count(world: World) -> None:
    # One assessment or two (consensus 3), an item awaiting the consensus gets the same lift.
    world.suspect(1)
    world.suspect(2)
    svc = world.service(review_consensus=3)
    svc.sync()
    order = [i.id for i in svc.top()]
    alice, bob = world.user("alice"), world.user("bob")
    for item_id in order:
        svc.assess(alice, item_id, "harmful_abusive", None)
    svc.assess(bob, order[1], "harmful_abusive", None)
    assert [i.id for i in svc.top()] == order


def test_images_are_blurred_greyscale_until_revealed_and_audited(world: World) -> None:
    world.suspect(1)
    svc = world.service()
    svc.sync()
    alice = world.user("alice")
    item_id = items(world)[0].id
    soft = Image.open(io.BytesIO(svc.image(alice, item_id, clear=False)[0]))
    clear = Image.open(io.BytesIO(svc.image(alice, item_id, clear=True)[0]))
    assert soft.mode == "L" and clear.mode == "RGB"
    # Blurring removes sharp edges.
    assert _edge_energy(soft) < 0.3 * _edge_energy(clear.convert("L"))
    with world.store.session() as s:
        actions = list(s.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["image.view", "image.reveal"]


def _edge_energy(image: Image.Image) -> float:
    """Strongest edge away from the border: shapes' sharp edges vanish when blurred."""
    edges = image.filter(ImageFilter.FIND_EDGES).crop((2, 2, image.width - 2, image.height - 2))
    return float(ImageStat.Stat(edges).extrema[0][1])


def test_exposure_cap_stops_images(world: World) -> None:
    world.suspect(1)
    svc = world.service(review_exposure_cap_hours=30 / 3600, review_heartbeat_seconds=15)
    svc.sync()
    alice = world.user("alice")
    item_id = items(world)[0].id
    svc.image(alice, item_id, clear=False)
    svc.heartbeat(alice)
    assert svc.heartbeat(alice) == 30
    with pytest.raises(Forbidden, match="exposure cap"):
        svc.image(alice, item_id, clear=False)
    world.clock.advance(timedelta(days=1))
    assert svc.exposure_today(alice) == 0
    assert svc.image(alice, item_id, clear=False)


def test_exposure_past_the_cap_stops_images_too(world: World) -> None:
    # 15 s heartbeats against a 20 s cap: the total goes from under the cap to past it.
    world.suspect(1)
    svc = world.service(review_exposure_cap_hours=20 / 3600, review_heartbeat_seconds=15)
    svc.sync()
    alice = world.user("alice")
    item_id = items(world)[0].id
    assert svc.heartbeat(alice) == 15
    assert svc.image(alice, item_id, clear=False)
    assert svc.heartbeat(alice) == 30
    with pytest.raises(Forbidden, match="exposure cap"):
        svc.image(alice, item_id, clear=False)


def test_append_only_tables_refuse_update_and_delete(world: World) -> None:
    world.suspect(1)
    svc = world.service(review_consensus=1)
    svc.sync()
    svc.assess(world.user("alice"), items(world)[0].id, "not_actionable", None)
    for table in ("audit_log", "review_assessment", "review_verdict"):
        for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with pytest.raises(sa.exc.DatabaseError), world.store.engine.begin() as conn:
                conn.execute(sa.text(statement))


def test_login_sessions_and_wrong_passwords(world: World) -> None:
    world.user("alice")
    svc = world.service()
    assert svc.login("alice", "wrong password!") is None
    assert svc.login("nobody", PASSWORD) is None
    token, csrf = svc.login("alice", PASSWORD) or ("", "")
    who, session_csrf = svc.resolve(token) or (None, "")
    assert who is not None and who.username == "alice" and session_csrf == csrf
    world.clock.advance(timedelta(hours=13))
    assert svc.resolve(token) is None
    token, _ = svc.login("alice", PASSWORD) or ("", "")
    svc.logout(token)
    assert svc.resolve(token) is None


def test_choices_and_xarf_mapping() -> None:
    assert xarf_class("csam_prepubescent", "sex_act") == "A1"
    assert xarf_class("csam_postpubescent", "lascivious_exhibition") == "B2"
    assert xarf_class("harmful_abusive", None) is None
    assert merge_severity([None, "lascivious_exhibition", "sex_act"]) == "sex_act"


def test_bad_choices_are_refused(world: World) -> None:
    world.suspect(1)
    svc = world.service()
    svc.sync()
    alice = world.user("alice")
    item_id = items(world)[0].id
    with pytest.raises(ReviewError, match="unknown category"):
        svc.assess(alice, item_id, "cute", None)
    with pytest.raises(ReviewError, match="only to the two CSAM"):
        svc.assess(alice, item_id, "harmful_abusive", "sex_act")


def test_next_claims_the_item_so_analysts_asking_together_get_different_ones(
    world: World,
) -> None:
    world.suspect(1)
    world.suspect(2)
    svc = world.service(review_claim_minutes=10)
    svc.sync()
    alice, bob, carol = world.user("alice"), world.user("bob"), world.user("carol")
    first = svc.next_view(alice)
    second = svc.next_view(bob)
    assert first is not None and second is not None and first.id != second.id
    again = svc.next_view(alice)
    assert again is not None and again.id == first.id, "asking again keeps one's own claim"
    assert svc.next_view(carol) is None, "both items are claimed"
    svc.assess(alice, first.id, "not_actionable", None)  # releases alice's claim
    released = svc.next_view(carol)
    assert released is not None and released.id == first.id
    world.clock.advance(timedelta(minutes=11))  # bob's lease ran out
    expired = svc.next_view(alice)
    assert expired is not None and expired.id == second.id


def test_next_view_folds_the_item_details(world: World) -> None:
    media = world.media(1)
    world.sighting(media[0], "old.example.test", ago=timedelta(days=3))
    world.suspect(1, media=media)
    world.suspect(2, pdq=pdq_hex(1, flips=5))  # a near-duplicate, grouped with the first
    svc = world.service()
    svc.sync()
    alice = world.user("alice")
    view = svc.next_view(alice)
    assert view is not None and view.has_image and view.verdict is None
    assert view == svc.item(alice, view.id)
    assert len(view.sightings) == 3 and len(view.near_duplicates) == 1
    assert {s.host for s in view.sightings} == {"old.example.test", "img.example.test"}


def test_a_verdict_detects_earlier_sightings_of_other_media_near_its_pdq(world: World) -> None:
    """Retroactive matching on a verdict: a picture stored before (another file, a PDQ a few
    bits away, never a suspect) becomes a detection of the verdict's new PDQ entry."""
    near = world.media(2, pdq=pdq_hex(7, flips=6))
    earlier = world.sighting(near[0], "older.example.test", ago=timedelta(days=3))
    world.suspect(1, pdq=pdq_hex(7))
    svc = world.service(review_consensus=1)
    svc.sync()
    outcome = svc.assess(world.user("alice"), items(world)[0].id, "csam_prepubescent", None)
    assert outcome.status == "decided" and outcome.detections == 2  # its own + the earlier
    with world.store.session() as s:
        found = s.execute(
            sa.select(Detection.signal_type, Detection.distance).where(
                Detection.sighting_id == earlier
            )
        ).all()
        assert found == [("pdq", 6)]
        assert s.scalar(sa.select(sa.func.count(Detection.id))) == 2
        kinds = set(s.scalars(sa.select(Event.kind)))
        assert "bank.retro_matched" in kinds


def test_without_retro_matching_a_verdict_detects_its_own_media_only(world: World) -> None:
    near = world.media(2, pdq=pdq_hex(7, flips=6))
    world.sighting(near[0], "older.example.test", ago=timedelta(days=3))
    world.suspect(1, pdq=pdq_hex(7))
    svc = world.service(review_consensus=1, review_retro_match=False)
    svc.sync()
    outcome = svc.assess(world.user("alice"), items(world)[0].id, "csam_prepubescent", None)
    assert outcome.detections == 1
