"""audit chain: hash-chained audit events, chain head, audit keys and signed anchors

Existing events are renumbered without gaps (nothing refers to their ids) and chained in
id order, so that ``sceau audit verify`` holds for a migrated log.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sceau.storage.tables
from sceau.registration.audit_chain import GENESIS_HASH, ChainedEvent, event_hash

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sceau.storage.tables.UtcDateTime


def _chain_existing_events() -> None:
    connection = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("id", sa.BigInteger()),
        sa.column("at", UTC()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("target", sa.String()),
        sa.column("outcome", sa.String()),
        sa.column("details", sa.JSON()),
        sa.column("source", sa.String()),
        sa.column("prev_hash", sa.String()),
        sa.column("event_hash", sa.String()),
    )
    rows = connection.execute(sa.select(events).order_by(events.c.id)).all()
    previous = GENESIS_HASH
    for new_id, row in enumerate(rows, start=1):
        chained = ChainedEvent(
            id=new_id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            outcome=row.outcome,
            details=row.details,
            source=row.source,
            prev_hash=previous,
        )
        digest = event_hash(chained)
        connection.execute(
            events.update()
            .where(events.c.id == row.id)
            .values(id=new_id, prev_hash=previous, event_hash=digest)
        )
        previous = digest
    head = sa.table(
        "audit_chain_head",
        sa.column("id", sa.Integer()),
        sa.column("last_event_id", sa.BigInteger()),
        sa.column("last_hash", sa.String()),
    )
    connection.execute(head.insert().values(id=1, last_event_id=len(rows), last_hash=previous))


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_reference", sa.Text(), nullable=False),
        sa.Column("public_key_der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_keys")),
    )
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["audit_keys.id"], name=op.f("fk_audit_anchors_key_id_audit_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
    )
    with op.batch_alter_table("audit_anchors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_anchors_key_id"), ["key_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_anchors_last_event_id"), ["last_event_id"], unique=False
        )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("event_hash", sa.String(length=64), nullable=True))
    _chain_existing_events()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("event_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_event_hash"), ["event_hash"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_event_hash"), type_="unique")
        batch_op.drop_column("event_hash")
        batch_op.drop_column("prev_hash")
    with op.batch_alter_table("audit_anchors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_anchors_last_event_id"))
        batch_op.drop_index(batch_op.f("ix_audit_anchors_key_id"))
    op.drop_table("audit_anchors")
    op.drop_table("audit_keys")
    op.drop_table("audit_chain_head")
