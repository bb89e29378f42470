"""orders: certificate orders, ordered products, secret attempts (revocation codes)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sceau.storage.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("offer", sa.String(length=8), nullable=False),
        sa.Column("bundle", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_email", sa.String(length=256), nullable=False),
        sa.Column("cc_email", sa.String(length=256), nullable=True),
        sa.Column("requested_by", sa.String(length=256), nullable=False),
        sa.Column("requested_by_person_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sceau.storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_person_id"],
            ["persons.id"],
            name=op.f("fk_certificate_orders_requested_by_person_id_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structures.id"],
            name=op.f("fk_certificate_orders_structure_id_structures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_orders")),
    )
    with op.batch_alter_table("certificate_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_orders_requested_by_person_id"),
            ["requested_by_person_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_certificate_orders_structure_id"), ["structure_id"], unique=False
        )

    op.create_table(
        "secret_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("at", sceau.storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_secret_attempts_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_attempts")),
    )
    with op.batch_alter_table("secret_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_secret_attempts_certificate", ["kind", "certificate_id", "at"], unique=False
        )
        batch_op.create_index("ix_secret_attempts_source", ["kind", "source", "at"], unique=False)

    op.create_table(
        "order_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("usage", sa.String(length=16), nullable=False),
        sa.Column("service_applicatif", sa.String(length=256), nullable=False),
        sa.Column("insi", sa.Boolean(), nullable=False),
        sa.Column("dns_names", sa.JSON(), nullable=True),
        sa.Column("key_source", sa.String(length=8), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("renewal_of_id", sa.Integer(), nullable=True),
        sa.Column("pkcs12_blob", sa.LargeBinary(), nullable=True),
        sa.Column("revocation_code_hash", sa.String(length=256), nullable=True),
        sa.Column("cgu_version", sa.String(length=32), nullable=True),
        sa.Column("pc_version", sa.String(length=32), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("requested_at", sceau.storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sceau.storage.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("retrieved_at", sceau.storage.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("retrieved_by", sa.String(length=256), nullable=True),
        sa.Column(
            "installation_confirmed_at",
            sceau.storage.tables.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "state_changed_at", sceau.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_order_products_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["certificate_orders.id"],
            name=op.f("fk_order_products_order_id_certificate_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["renewal_of_id"],
            ["certificates.id"],
            name=op.f("fk_order_products_renewal_of_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["structure_id"],
            ["structures.id"],
            name=op.f("fk_order_products_structure_id_structures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_products")),
        sa.UniqueConstraint("certificate_id", name=op.f("uq_order_products_certificate_id")),
    )
    with op.batch_alter_table("order_products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_products_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_order_products_renewal_of_id"), ["renewal_of_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_order_products_state"), ["state"], unique=False)
        batch_op.create_index(
            "ix_order_products_structure_id_id", ["structure_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("order_products", schema=None) as batch_op:
        batch_op.drop_index("ix_order_products_structure_id_id")
        batch_op.drop_index(batch_op.f("ix_order_products_state"))
        batch_op.drop_index(batch_op.f("ix_order_products_renewal_of_id"))
        batch_op.drop_index(batch_op.f("ix_order_products_order_id"))

    op.drop_table("order_products")
    with op.batch_alter_table("secret_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_secret_attempts_source")
        batch_op.drop_index("ix_secret_attempts_certificate")

    op.drop_table("secret_attempts")
    with op.batch_alter_table("certificate_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_orders_structure_id"))
        batch_op.drop_index(batch_op.f("ix_certificate_orders_requested_by_person_id"))

    op.drop_table("certificate_orders")
