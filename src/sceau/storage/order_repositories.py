"""Queries of certificate orders and their products (DEMANDER, RETIRER, SUIVRE)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from sceau.storage.tables import (
    Certificate,
    CertificateOrder,
    OrderProduct,
    SecretAttempt,
    Structure,
)

_LIVE_STATES = ("issued", "retrieved", "expired")


def _effective_state(now: dt.datetime) -> Any:
    """SQL twin of ``registration.orders.states.effective_state``."""
    return case(
        (
            and_(
                Certificate.revoked_at.is_not(None),
                OrderProduct.state.in_(("issued", "retrieved", "revoked")),
            ),
            "revoked",
        ),
        (
            and_(OrderProduct.state.in_(_LIVE_STATES), Certificate.not_after <= now),
            "expired",
        ),
        else_=OrderProduct.state,
    )


class OrderRepository:
    """Orders (DEMANDER), their products, and the secret-attempt counters (RÉVOQUER by code)."""

    def __init__(self, session: Session):
        self.session = session

    def create_order(self, **fields: Any) -> CertificateOrder:
        order = CertificateOrder(**fields)
        self.session.add(order)
        self.session.flush()
        return order

    def create_product(self, **fields: Any) -> OrderProduct:
        product = OrderProduct(**fields)
        self.session.add(product)
        self.session.flush()
        return product

    def order_by_idempotency_ref(self, reference: str) -> CertificateOrder | None:
        return self.session.scalar(
            select(CertificateOrder).where(CertificateOrder.idempotency_ref == reference)
        )

    def order_by_id(self, order_id: int) -> CertificateOrder | None:
        return self.session.get(CertificateOrder, order_id)

    def products_of(self, order_id: int) -> Sequence[OrderProduct]:
        return self.session.scalars(
            select(OrderProduct).where(OrderProduct.order_id == order_id).order_by(OrderProduct.id)
        ).all()

    def product_by_id(self, product_id: int, *, for_update: bool = False) -> OrderProduct | None:
        query = select(OrderProduct).where(OrderProduct.id == product_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def product_by_certificate(
        self, certificate_id: int, *, for_update: bool = False
    ) -> OrderProduct | None:
        query = select(OrderProduct).where(OrderProduct.certificate_id == certificate_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def renewals_of(self, certificate_id: int) -> Sequence[OrderProduct]:
        return self.session.scalars(
            select(OrderProduct)
            .where(OrderProduct.renewal_of_id == certificate_id)
            .order_by(OrderProduct.id)
        ).all()

    def stale_requested(self, before: dt.datetime, limit: int = 100) -> Sequence[OrderProduct]:
        """Products left ``requested`` by a process that died during issuance."""
        return self.session.scalars(
            select(OrderProduct)
            .where(OrderProduct.state == "requested", OrderProduct.requested_at <= before)
            .order_by(OrderProduct.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()

    def wipe_pkcs12(self, product: OrderProduct) -> None:
        """Overwrite the stored PKCS#12 with zeros, write it, then drop it."""
        if product.pkcs12_blob is not None:
            product.pkcs12_blob = bytes(len(product.pkcs12_blob))
            self.session.flush()
        product.pkcs12_blob = None
        self.session.flush()

    def _filtered(
        self,
        query: Any,
        *,
        now: dt.datetime,
        structure_ids: frozenset[int] | None,
        structure_id: int | None = None,
        text: str | None = None,
        state: str | None = None,
        expires_before: dt.datetime | None = None,
        order_id: int | None = None,
    ) -> Any:
        if structure_ids is not None:
            ids = sorted(structure_ids)
            query = query.where(OrderProduct.structure_id.in_(ids) if ids else false())
        if structure_id is not None:
            query = query.where(OrderProduct.structure_id == structure_id)
        if order_id is not None:
            query = query.where(OrderProduct.order_id == order_id)
        if text:
            needle = text.strip()
            pattern = f"%{needle.upper()}%"
            serial = needle.lower().replace(":", "")
            if 32 <= len(serial) <= 40 and all(c in "0123456789abcdef" for c in serial):
                # A whole serial: an exact look-up on the unique index, not a scan.
                query = query.where(Certificate.serial == serial.lstrip("0").rjust(32, "0"))
            else:
                query = query.where(
                    or_(
                        func.upper(Structure.raison_sociale).like(pattern),
                        Structure.idnst.like(pattern),
                        Structure.finess_et.like(pattern),
                        func.upper(OrderProduct.service_applicatif).like(pattern),
                        Certificate.serial.like(f"%{serial}%"),
                    )
                )
        if state is not None:
            query = query.where(_effective_state(now) == state)
        if expires_before is not None:
            query = query.where(
                OrderProduct.state.in_(("issued", "retrieved")),
                Certificate.revoked_at.is_(None),
                Certificate.not_after > now,
                Certificate.not_after <= expires_before,
            )
        return query

    def search(
        self,
        *,
        now: dt.datetime,
        structure_ids: frozenset[int] | None = None,
        structure_id: int | None = None,
        text: str | None = None,
        state: str | None = None,
        expires_before: dt.datetime | None = None,
        order_id: int | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> Sequence[Any]:
        """(product, certificate or None, structure, effective state) rows, newest first.

        Keyset pagination: pass the last row's product id as ``before_id`` for the next page.
        """
        query = (
            select(OrderProduct, Certificate, Structure, _effective_state(now).label("effective"))
            .join(Structure, Structure.id == OrderProduct.structure_id)
            .outerjoin(Certificate, Certificate.id == OrderProduct.certificate_id)
        )
        query = self._filtered(
            query,
            now=now,
            structure_ids=structure_ids,
            structure_id=structure_id,
            text=text,
            state=state,
            expires_before=expires_before,
            order_id=order_id,
        )
        if before_id is not None:
            query = query.where(OrderProduct.id < before_id)
        return self.session.execute(query.order_by(OrderProduct.id.desc()).limit(limit)).all()

    def count_by_state(
        self,
        *,
        now: dt.datetime,
        structure_ids: frozenset[int] | None = None,
        structure_id: int | None = None,
    ) -> dict[str, int]:
        effective = _effective_state(now).label("effective")
        query = (
            select(effective, func.count())
            .select_from(OrderProduct)
            .outerjoin(Certificate, Certificate.id == OrderProduct.certificate_id)
        )
        query = self._filtered(
            query, now=now, structure_ids=structure_ids, structure_id=structure_id
        )
        rows = self.session.execute(query.group_by(effective)).all()
        return {str(state): int(count) for state, count in rows}

    def count_expiring(
        self,
        *,
        now: dt.datetime,
        before: dt.datetime,
        structure_ids: frozenset[int] | None = None,
        structure_id: int | None = None,
    ) -> int:
        query = (
            select(func.count())
            .select_from(OrderProduct)
            .join(Certificate, Certificate.id == OrderProduct.certificate_id)
        )
        query = self._filtered(
            query,
            now=now,
            structure_ids=structure_ids,
            structure_id=structure_id,
            expires_before=before,
        )
        return int(self.session.scalar(query) or 0)

    def record_attempt(
        self,
        *,
        kind: str,
        certificate_id: int | None,
        source: str | None,
        at: dt.datetime,
        success: bool,
    ) -> None:
        self.session.add(
            SecretAttempt(
                kind=kind, certificate_id=certificate_id, source=source, at=at, success=success
            )
        )
        self.session.flush()

    def failures_since(
        self,
        kind: str,
        since: dt.datetime,
        *,
        certificate_id: int | None = None,
        source: str | None = None,
    ) -> int:
        query = (
            select(func.count())
            .select_from(SecretAttempt)
            .where(
                SecretAttempt.kind == kind,
                SecretAttempt.at > since,
                SecretAttempt.success.is_(False),
            )
        )
        if certificate_id is not None:
            query = query.where(SecretAttempt.certificate_id == certificate_id)
        if source is not None:
            query = query.where(SecretAttempt.source == source)
        return int(self.session.scalar(query) or 0)
