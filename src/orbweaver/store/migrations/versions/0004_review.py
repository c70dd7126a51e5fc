"""review: analysts, web sessions, the queue, assessments, verdicts, allow-list, audit log

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-29 12:42:40.253760
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from orbweaver.store.triggers import append_only

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("review",)
depends_on: str | Sequence[str] | None = None

# History that must never be rewritten: who saw what, who said what, what was decided.
APPEND_ONLY = ("audit_log", "review_assessment", "review_verdict")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
    op.create_table(
        "review_user",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("blur", sa.Boolean(), nullable=False),
        sa.Column("greyscale", sa.Boolean(), nullable=False),
        sa.Column("mute_video", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_user")),
        sa.UniqueConstraint("username", name=op.f("uq_review_user_username")),
    )
    op.create_table(
        "review_exposure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["review_user.id"], name=op.f("fk_review_exposure_user_id_review_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_exposure")),
        sa.UniqueConstraint("user_id", "day", name=op.f("uq_review_exposure_user_id")),
    )
    op.create_table(
        "review_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("media_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("group_distance", sa.Integer(), nullable=True),
        sa.Column("sightings", sa.Integer(), nullable=False),
        sa.Column("host_detections", sa.Integer(), nullable=False),
        sa.Column("pdq_distance", sa.Integer(), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("assessments", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["review_item.id"], name=op.f("fk_review_item_group_id_review_item")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media.id"], name=op.f("fk_review_item_media_id_media")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_item")),
        sa.UniqueConstraint("media_id", name=op.f("uq_review_item_media_id")),
    )
    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_item_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            "ix_review_item_queue",
            ["status", sa.literal_column("priority DESC"), "first_seen_at", "id"],
            unique=False,
        )
    op.create_table(
        "web_session",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["review_user.id"], name=op.f("fk_web_session_user_id_review_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_web_session_token_sha256")),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_user_id"), ["user_id"], unique=False)
    op.create_table(
        "review_allow",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("signal_type", sa.String(length=16), nullable=False),
        sa.Column("signal", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_item.id"], name=op.f("fk_review_allow_item_id_review_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_allow")),
        sa.UniqueConstraint("signal_type", "signal", name=op.f("uq_review_allow_signal_type")),
    )
    op.create_table(
        "review_assessment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_item.id"], name=op.f("fk_review_assessment_item_id_review_item")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["review_user.id"], name=op.f("fk_review_assessment_user_id_review_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_assessment")),
        sa.UniqueConstraint("item_id", "user_id", name=op.f("uq_review_assessment_item_id")),
    )
    with op.batch_alter_table("review_assessment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_assessment_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_assessment_user_id"), ["user_id"], unique=False)
    op.create_table(
        "review_verdict",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_item.id"], name=op.f("fk_review_verdict_item_id_review_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_verdict")),
        sa.UniqueConstraint("item_id", name=op.f("uq_review_verdict_item_id")),
    )

    for table in APPEND_ONLY:
        append_only(table)


def downgrade() -> None:
    op.drop_table("review_verdict")
    with op.batch_alter_table("review_assessment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_assessment_user_id"))
        batch_op.drop_index(batch_op.f("ix_review_assessment_item_id"))
    op.drop_table("review_assessment")
    op.drop_table("review_allow")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_user_id"))
    op.drop_table("web_session")
    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.drop_index("ix_review_item_queue")
        batch_op.drop_index(batch_op.f("ix_review_item_group_id"))
    op.drop_table("review_item")
    op.drop_table("review_exposure")
    op.drop_table("review_user")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))
    op.drop_table("audit_log")
