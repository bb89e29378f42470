"""notifications: outbox messages, expiry notices, job leases, calendar tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sceau.storage.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sceau.storage.tables.UtcDateTime
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("dedup_key", sa.String(length=160), nullable=False),
        sa.Column("event_id", BIG_ID, nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=256), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("cc", sa.JSON(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=128), nullable=True),
        sa.Column("locked_until", UTC(timezone=True), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("sent_at", UTC(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["domain_events.id"],
            name=op.f("fk_outbox_messages_event_id_domain_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_outbox_messages_dedup_key")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_messages_message_id")),
    )
    op.create_index(
        op.f("ix_outbox_messages_event_id"), "outbox_messages", ["event_id"], unique=False
    )
    op.create_index(op.f("ix_outbox_messages_kind"), "outbox_messages", ["kind"], unique=False)
    op.create_index(
        "ix_outbox_messages_status_next",
        "outbox_messages",
        ["status", "next_attempt_at"],
        unique=False,
    )

    op.create_table(
        "expiry_notices",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("noticed_at", UTC(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_expiry_notices_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expiry_notices")),
        sa.UniqueConstraint(
            "certificate_id", "offset_days", name="uq_expiry_notices_certificate_offset"
        ),
    )
    op.create_index(
        "ix_certificates_replaces_id",
        "certificates",
        ["replaces_id"],
        unique=False,
        sqlite_where=sa.text("replaces_id IS NOT NULL"),
        postgresql_where=sa.text("replaces_id IS NOT NULL"),
    )

    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("last_started_at", UTC(timezone=True), nullable=True),
        sa.Column("last_duration_seconds", sa.Float(), nullable=True),
        sa.Column("total_duration_seconds", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )

    op.create_table(
        "calendar_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("last_used_at", UTC(timezone=True), nullable=True),
        sa.Column("revoked_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_calendar_tokens_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_calendar_tokens_person_id"), "calendar_tokens", ["person_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_calendar_tokens_person_id"), table_name="calendar_tokens")
    op.drop_table("calendar_tokens")
    op.drop_table("job_leases")
    op.drop_index("ix_certificates_replaces_id", table_name="certificates")
    op.drop_table("expiry_notices")
    op.drop_index("ix_outbox_messages_status_next", table_name="outbox_messages")
    op.drop_index(op.f("ix_outbox_messages_kind"), table_name="outbox_messages")
    op.drop_index(op.f("ix_outbox_messages_event_id"), table_name="outbox_messages")
    op.drop_table("outbox_messages")
