"""Orders carry the reference of the API Idempotency-Key that placed them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificate_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_ref", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            "uq_certificate_orders_idempotency_ref", ["idempotency_ref"]
        )


def downgrade() -> None:
    with op.batch_alter_table("certificate_orders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_certificate_orders_idempotency_ref", type_="unique")
        batch_op.drop_column("idempotency_ref")
