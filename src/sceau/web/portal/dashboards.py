"""What each role's home page shows, read inside one unit of work per page.

Lists are always filtered by the registry's ``visible_structure_ids``: an administrator sees
their habilitated structures only, a legal representative the structures they represent, the
operator everything. Nothing here changes data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action, Actor, authorize, visible_structure_ids
from sceau.registration.orders.views import ProductView
from sceau.registration.use_cases.structures import StructureView
from sceau.web.portal.charts import MonthCount, monthly_expiries

EXPIRING_DAYS = 90


@dataclass(frozen=True)
class AdministratorHome:
    structures: list[StructureView]
    awaiting: list[ProductView]  # issued, waiting for RETIRER
    expiring: list[ProductView]  # valid, expiring within EXPIRING_DAYS
    timeline: list[MonthCount]
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RepresentedStructure:
    structure: StructureView
    certificates: list[ProductView]
    administrators: list[dict[str, Any]]
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class OperatorHome:
    habilitation_requests: list[dict[str, Any]]
    card_requests: list[dict[str, Any]]
    contracts: list[dict[str, Any]]
    authorities: list[dict[str, Any]]
    failed_mails: list[dict[str, Any]]
    counts: dict[str, int]


def _products(uow: Any, now: dt.datetime, rows: Any) -> list[ProductView]:
    return [ProductView.of(product, cert, structure, now) for product, cert, structure, _ in rows]


def administrator_home(services: Any, actor: Actor) -> AdministratorHome:
    now = services.clock.now()
    with services.unit_of_work() as uow:
        fresh = authorize(uow, actor, Action.CERTIFICATE_LIST, at=now)
        ids = fresh.habilitated_structure_ids
        structures = [
            StructureView.of(row) for row in uow.structures.search(None, limit=500, only_ids=ids)
        ]
        awaiting = _products(
            uow, now, uow.orders.search(now=now, structure_ids=ids, state="issued", limit=200)
        )
        expiring = _products(
            uow,
            now,
            uow.orders.search(
                now=now,
                structure_ids=ids,
                expires_before=now + dt.timedelta(days=EXPIRING_DAYS),
                limit=200,
            ),
        )
        live = _products(
            uow,
            now,
            uow.orders.search(
                now=now,
                structure_ids=ids,
                expires_before=now + dt.timedelta(days=3 * 366),
                limit=5000,
            ),
        )
        counts = uow.orders.count_by_state(now=now, structure_ids=ids)
    expiring.sort(key=lambda p: p.not_after or now)
    timeline = monthly_expiries([p.not_after for p in live if p.not_after], now)
    return AdministratorHome(structures, awaiting, expiring, timeline, counts)


def legal_representative_home(services: Any, actor: Actor) -> list[RepresentedStructure]:
    """Plain words for the structures a legal representative represents (read-only)."""
    now = services.clock.now()
    result = []
    with services.unit_of_work() as uow:
        fresh = authorize(uow, actor, Action.STRUCTURE_LIST, at=now)
        for structure_id in sorted(fresh.represented_structure_ids):
            row = uow.structures.by_id(structure_id)
            products = _products(
                uow, now, uow.orders.search(now=now, structure_id=structure_id, limit=200)
            )
            administrators = []
            for habilitation in uow.habilitations.active_for_structure(structure_id):
                person = uow.persons.by_id(habilitation.person_id)
                vendor = (
                    uow.vendors.by_id(habilitation.vendor_id) if habilitation.vendor_id else None
                )
                cards = [c for c in uow.cards.for_person(person.id) if c.status == "active"]
                administrators.append(
                    {
                        "name": f"{person.given_name.title()} {person.family_name}",
                        "idnat": person.idnat,
                        "card": cards[0].card_number if cards else person.idnat,
                        "status": habilitation.administrator_status,
                        "vendor": vendor.name if vendor else None,
                        "since": habilitation.granted_at,
                    }
                )
            history = [
                {
                    "name": f"{uow.persons.by_id(h.person_id).given_name.title()} "
                    f"{uow.persons.by_id(h.person_id).family_name}",
                    "granted_at": h.granted_at,
                    "revoked_at": h.revoked_at,
                    "reason": h.revocation_reason,
                }
                for h in uow.habilitations.list(
                    structure_ids=frozenset({structure_id}), include_revoked=True, limit=50
                )
            ]
            result.append(
                RepresentedStructure(StructureView.of(row), products, administrators, history)
            )
    return result


def managers_of(products: list[ProductView], administrators: list[dict[str, Any]]) -> str:
    names = [a["vendor"] or a["name"] for a in administrators]
    return ", ".join(dict.fromkeys(names)) or "personne (aucun administrateur technique habilité)"


def operator_home(services: Any, actor: Actor) -> OperatorHome:
    now = services.clock.now()
    with services.unit_of_work() as uow:
        if not actor.is_operator:
            raise SceauError("forbidden", "page réservée à l'opérateur", ErrorKind.FORBIDDEN)
        requests = []
        card_requests = []
        for row in uow.habilitations.requests(status="pending", limit=100):
            structure = uow.structures.by_id(row.structure_id)
            card = uow.cards.by_number(row.card_number)
            item = {
                "id": row.id,
                "structure": f"{structure.raison_sociale} ({structure.idnst})",
                "name": row.administrator_name,
                "status": row.administrator_status,
                "card_number": row.card_number,
                "email": row.email,
                "form": row.form,
                "requested_at": row.requested_at,
                "card_known": card is not None and card.status == "active",
            }
            requests.append(item)
            if not item["card_known"]:
                card_requests.append(item)
        contracts = []
        for contract in uow.contracts.for_holder():
            holder = (
                uow.vendors.by_id(contract.vendor_id).name
                if contract.vendor_id
                else uow.structures.by_id(contract.structure_id).raison_sociale
            )
            contracts.append(
                {
                    "reference": contract.reference,
                    "holder": holder,
                    "signed_on": contract.signed_on,
                    "status": contract.status,
                }
            )
        authorities = []
        for authority in uow.authorities.all():
            crl = uow.crls.latest(authority.id, delta=False)
            cert = x509.load_der_x509_certificate(authority.certificate_der)
            authorities.append(
                {
                    "subject": authority.subject,
                    "role": authority.role,
                    "environment": authority.environment,
                    "not_after": cert.not_valid_after_utc,
                    "crl_number": crl.number if crl else None,
                    "crl_next_update": crl.next_update if crl else None,
                    "crl_late": crl is not None and crl.next_update <= now,
                    "crl_entries": crl.entries if crl else None,
                }
            )
        failed = [
            {
                "id": message.id,
                "kind": message.kind,
                "recipients": ", ".join(message.recipients or []),
                "subject": message.subject,
                "error": message.last_error,
                "attempts": message.attempts,
                "status": message.status,
            }
            for status in ("failed", "unknown")
            for message in uow.outbox.list(status=status, limit=50)
        ]
        counts = uow.orders.count_by_state(now=now, structure_ids=visible_structure_ids(uow, actor))
    return OperatorHome(requests, card_requests, contracts, authorities, failed, counts)
