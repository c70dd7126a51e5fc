"""takedown: providers, aliases, attribution cache, overrides, notices, items, outbox, re-checks

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-29 12:42:37.954407
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("takedown",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("service_type", sa.String(length=32), nullable=False),
        sa.Column("abuse_email", sa.String(length=320), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("rdap_handle", sa.String(length=100), nullable=True),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider")),
        sa.UniqueConstraint("name", name=op.f("uq_provider_name")),
    )
    op.create_table(
        "attribution_cache",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column(
            "recipient_provider_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("tor_only", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_provider_id"],
            ["provider.id"],
            name=op.f("fk_attribution_cache_recipient_provider_id_provider"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribution_cache")),
        sa.UniqueConstraint("host", name=op.f("uq_attribution_cache_host")),
    )
    with op.batch_alter_table("attribution_cache", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attribution_cache_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "notice",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("network", sa.String(length=8), nullable=False),
        sa.Column(
            "provider_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recidivist", sa.Boolean(), nullable=False),
        sa.Column("recidivist_of_id", sa.BigInteger(), nullable=True),
        sa.Column("rounds_sent", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("first_sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(), nullable=True),
        sa.Column("next_followup_at", sa.DateTime(), nullable=True),
        sa.Column("next_check_at", sa.DateTime(), nullable=True),
        sa.Column("checks_done", sa.Integer(), nullable=False),
        sa.Column("miss_count", sa.Integer(), nullable=False),
        sa.Column("last_online_at", sa.DateTime(), nullable=True),
        sa.Column("first_offline_at", sa.DateTime(), nullable=True),
        sa.Column("offline_confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_notice_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
        sa.UniqueConstraint("report_id", name=op.f("uq_notice_report_id")),
        sa.UniqueConstraint("url", "provider_id", "generation", name=op.f("uq_notice_url")),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_host"), ["host"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notice_next_check_at"), ["next_check_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notice_next_followup_at"), ["next_followup_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_notice_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_status"), ["status"], unique=False)

    op.create_table(
        "provider_alias",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "provider_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_provider_alias_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_alias")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_provider_alias_kind")),
    )
    with op.batch_alter_table("provider_alias", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_alias_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "provider_override",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.String(length=255), nullable=False),
        sa.Column(
            "provider_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_provider_override_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_override")),
        sa.UniqueConstraint("kind", "pattern", name=op.f("uq_provider_override_kind")),
    )
    with op.batch_alter_table("provider_override", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_override_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "provider_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("xarf", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notice.id"], name=op.f("fk_outbox_notice_id_notice")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["provider.id"], name=op.f("fk_outbox_provider_id_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_notice_id"), ["notice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_status"), ["status"], unique=False)

    op.create_table(
        "recheck",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notice.id"], name=op.f("fk_recheck_notice_id_notice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recheck")),
    )
    with op.batch_alter_table("recheck", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recheck_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_recheck_notice_id"), ["notice_id"], unique=False)

    op.create_table(
        "notice_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "detection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("media_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_path", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["detection_id"], ["detection.id"], name=op.f("fk_notice_item_detection_id_detection")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media.id"], name=op.f("fk_notice_item_media_id_media")
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notice.id"], name=op.f("fk_notice_item_notice_id_notice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_item")),
        sa.UniqueConstraint("detection_id", name=op.f("uq_notice_item_detection_id")),
    )
    with op.batch_alter_table("notice_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_item_media_id"), ["media_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_item_notice_id"), ["notice_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notice_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_item_notice_id"))
        batch_op.drop_index(batch_op.f("ix_notice_item_media_id"))

    op.drop_table("notice_item")
    with op.batch_alter_table("recheck", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recheck_notice_id"))
        batch_op.drop_index(batch_op.f("ix_recheck_at"))

    op.drop_table("recheck")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_provider_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_notice_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_next_attempt_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("provider_override", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_override_provider_id"))

    op.drop_table("provider_override")
    with op.batch_alter_table("provider_alias", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_alias_provider_id"))

    op.drop_table("provider_alias")
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_status"))
        batch_op.drop_index(batch_op.f("ix_notice_provider_id"))
        batch_op.drop_index(batch_op.f("ix_notice_next_followup_at"))
        batch_op.drop_index(batch_op.f("ix_notice_next_check_at"))
        batch_op.drop_index(batch_op.f("ix_notice_host"))

    op.drop_table("notice")
    with op.batch_alter_table("attribution_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attribution_cache_expires_at"))

    op.drop_table("attribution_cache")
    op.drop_table("provider")
