"""The Shield API explains its answers (issue 17): the bank entries behind a match, as extra
fields Project Arachnid's SDK ignores; and a negative bank's match turns a hit into a miss."""

from __future__ import annotations

import io

import sqlalchemy as sa
from test_web_shield import PDQ, flip, make_client, pdq_answer, wait_for

from orbweaver.banks import create_bank, import_csv
from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.store.models import BankEntry


def test_pdq_answers_carry_their_explanation_and_a_negative_bank_clears_them(
    store: Store, clock: SettableClock
) -> None:
    create_bank(store, clock, "partner", threshold=31)
    body = f"pdq,{PDQ},csam_postpubescent,partner-hotline\n"
    import_csv(store, clock, "partner", io.StringIO("signal_type,signal,category,source\n" + body))
    with store.session() as session:
        entry = session.scalar(sa.select(BankEntry.id))
    client, auth = make_client(store, clock, shield_refresh_interval_s=0.05)
    try:
        wait_for(lambda: client.get("/status").status_code == 200)
        answer = pdq_answer(client, auth, flip(PDQ, 3))
        assert answer["match_explanations"] == [
            {
                "bank": "partner",
                "entry_id": entry,
                "source": "partner-hotline",
                "member": None,
                "tags": None,
                "signal_type": "pdq",
                "distance": 3,
                "category": "csam_postpubescent",
            }
        ]
        miss = pdq_answer(client, auth, flip(PDQ, 100))
        assert "match_explanations" not in miss and miss["match_type"] is None
        # a benign picture that collides goes into a negative bank: the next refresh clears it
        create_bank(store, clock, "benign", threshold=0, kind="negative")
        body = f"pdq,{flip(PDQ, 3)},csam_postpubescent,own\n"
        import_csv(
            store, clock, "benign", io.StringIO("signal_type,signal,category,source\n" + body)
        )
        wait_for(lambda: pdq_answer(client, auth, flip(PDQ, 3))["match_type"] is None)
        assert "match_explanations" not in pdq_answer(client, auth, flip(PDQ, 3))
        assert pdq_answer(client, auth, flip(PDQ, 4))["match_type"] == "near"
    finally:
        client.__exit__(None, None, None)
