"""Who may act on what: one decision function used by every adapter (CLI, API, portal).

An :class:`Actor` is resolved per request from the database (:func:`actor_for_person`): the
structures a technical administrator is habilitated for and those a legal representative
represents are read afresh, so a withdrawn or replaced habilitation takes effect on the very
next action. :func:`may` is pure; :func:`authorize` re-reads the grants inside the caller's
unit of work, records a refusal in the audit trail and raises ``FORBIDDEN``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sceau.pki.errors import ErrorKind, SceauError


class ActorKind(StrEnum):
    OPERATOR = "operator"  # the CA operator (ANS role): may do everything
    ADMINISTRATOR = "administrator"  # technical administrator habilitated on structures
    LEGAL_REPRESENTATIVE = "legal_representative"
    ANONYMOUS = "anonymous"


class Action(StrEnum):
    """Everything an actor may try; adapters and later use cases name these."""

    STRUCTURE_READ = "structure.read"
    STRUCTURE_LIST = "structure.list"
    STRUCTURE_CREATE = "structure.create"
    STRUCTURE_UPDATE = "structure.update"
    STRUCTURE_CLOSE = "structure.close"
    STRUCTURE_IMPORT = "structure.import"
    LEGAL_REPRESENTATIVE_DESIGNATE = "legal_representative.designate"
    CERTIFICATE_REQUEST = "certificate.request"
    CERTIFICATE_RETRIEVE = "certificate.retrieve"
    CERTIFICATE_READ = "certificate.read"
    CERTIFICATE_LIST = "certificate.list"
    CERTIFICATE_REVOKE = "certificate.revoke"
    CERTIFICATE_RENEW = "certificate.renew"
    HABILITATION_READ = "habilitation.read"
    HABILITATION_LIST = "habilitation.list"
    HABILITATION_REQUEST = "habilitation.request"
    HABILITATION_APPROVE = "habilitation.approve"
    HABILITATION_REJECT = "habilitation.reject"
    HABILITATION_REPLACE = "habilitation.replace"
    HABILITATION_WITHDRAW = "habilitation.withdraw"
    CARD_ISSUE = "card.issue"
    CARD_REVOKE = "card.revoke"
    PERSON_MANAGE = "person.manage"
    PERSON_READ = "person.read"
    VENDOR_MANAGE = "vendor.manage"
    CONTRACT_MANAGE = "contract.manage"
    AUDIT_READ = "audit.read"
    CA_MANAGE = "ca.manage"


# What a habilitated technical administrator may do on *their* structures.
ADMINISTRATOR_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.STRUCTURE_READ,
        Action.STRUCTURE_LIST,
        Action.CERTIFICATE_REQUEST,
        Action.CERTIFICATE_RETRIEVE,
        Action.CERTIFICATE_READ,
        Action.CERTIFICATE_LIST,
        Action.CERTIFICATE_REVOKE,
        Action.CERTIFICATE_RENEW,
        Action.HABILITATION_READ,
        Action.HABILITATION_LIST,
    }
)
# What a legal representative may do on the structure they represent (domain §10, §14:
# read it, request a technical administrator, withdraw a delegation, request a revocation).
LEGAL_REPRESENTATIVE_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.STRUCTURE_READ,
        Action.STRUCTURE_LIST,
        Action.CERTIFICATE_READ,
        Action.CERTIFICATE_LIST,
        Action.CERTIFICATE_REVOKE,
        Action.HABILITATION_READ,
        Action.HABILITATION_LIST,
        Action.HABILITATION_REQUEST,
        Action.HABILITATION_WITHDRAW,
    }
)
# List actions: allowed without a structure, the list is then filtered (visible_structure_ids).
LIST_ACTIONS: frozenset[Action] = frozenset(
    {Action.STRUCTURE_LIST, Action.CERTIFICATE_LIST, Action.HABILITATION_LIST}
)


@dataclass(frozen=True)
class Actor:
    """Who is acting. Persons carry the structures they hold rights on, read per request."""

    kind: ActorKind
    label: str  # for the audit trail: "operator:cli", "person:810002813839"
    person_id: int | None = None
    idnat: str | None = None
    habilitated_structure_ids: frozenset[int] = field(default_factory=frozenset)
    represented_structure_ids: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def operator(cls, name: str = "operator") -> Actor:
        return cls(ActorKind.OPERATOR, name if name.startswith("operator") else f"operator:{name}")

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(ActorKind.ANONYMOUS, "anonymous")

    @classmethod
    def person(
        cls,
        person_id: int,
        idnat: str,
        habilitated: Iterable[int] = (),
        represented: Iterable[int] = (),
    ) -> Actor:
        habilitated_ids = frozenset(habilitated)
        represented_ids = frozenset(represented)
        kind = (
            ActorKind.ADMINISTRATOR
            if habilitated_ids or not represented_ids
            else ActorKind.LEGAL_REPRESENTATIVE
        )
        return cls(kind, f"person:{idnat}", person_id, idnat, habilitated_ids, represented_ids)

    @property
    def is_operator(self) -> bool:
        return self.kind is ActorKind.OPERATOR

    @property
    def is_person(self) -> bool:
        return self.person_id is not None


def _structure_id(structure: Any) -> int | None:
    if structure is None:
        return None
    if isinstance(structure, int):
        return structure
    return int(structure.id)


def may(actor: Actor, action: Action, structure: Any = None) -> bool:
    """True when ``actor`` may do ``action`` on ``structure`` (a row with ``id``, an id or None).

    The operator may do everything; an anonymous actor nothing. A person may do an
    administrator action on a structure they are habilitated for, a legal-representative action
    on a structure they represent. Without a structure only list actions are allowed to persons
    (the list is then filtered with :func:`visible_structure_ids`).
    """
    if actor.kind is ActorKind.OPERATOR:
        return True
    if actor.kind is ActorKind.ANONYMOUS or not actor.is_person:
        return False
    structure_id = _structure_id(structure)
    if structure_id is None:
        return action in LIST_ACTIONS
    if action in ADMINISTRATOR_ACTIONS and structure_id in actor.habilitated_structure_ids:
        return True
    represented = structure_id in actor.represented_structure_ids
    return action in LEGAL_REPRESENTATIVE_ACTIONS and represented


def refresh(uow: Any, actor: Actor) -> Actor:
    """The actor with its grants read again from the database (no-op for operator/anonymous)."""
    if actor.person_id is None or actor.idnat is None:
        return actor
    return Actor.person(
        actor.person_id,
        actor.idnat,
        uow.habilitations.active_structure_ids(actor.person_id),
        uow.legal_representatives.structure_ids(actor.person_id),
    )


def actor_for_person(uow: Any, person: Any) -> Actor:
    """Resolve a person row (found by idNat after card or e-CPS login) into an actor."""
    return refresh(uow, Actor.person(person.id, person.idnat))


def visible_structure_ids(uow: Any, actor: Actor) -> frozenset[int] | None:
    """Structures ``actor`` may see in lists: ``None`` means all (operator)."""
    if actor.kind is ActorKind.OPERATOR:
        return None
    if not actor.is_person:
        return frozenset()
    fresh = refresh(uow, actor)
    return fresh.habilitated_structure_ids | fresh.represented_structure_ids


def forbidden(actor: Actor, action: Action, target: str | None) -> SceauError:
    where = f" sur {target}" if target else ""
    if actor.kind is ActorKind.ANONYMOUS:
        return SceauError(
            "unauthenticated",
            f"authentification requise pour {action.value}{where}",
            ErrorKind.UNAUTHENTICATED,
        )
    return SceauError(
        "forbidden",
        f"{actor.label} n'est pas autorisé à {action.value}{where}: il faut être opérateur, "
        "administrateur technique habilité pour la structure ou son représentant légal "
        "(selon l'action)",
        ErrorKind.FORBIDDEN,
    )


def authorize(
    uow: Any,
    actor: Actor,
    action: Action,
    structure: Any = None,
    *,
    at: Any,
    target: str | None = None,
) -> Actor:
    """Check ``may`` on fresh grants; on refusal, audit it, **commit the audit** and raise.

    Returns the refreshed actor. The refusal is committed on its own so that the caller's
    rollback does not erase it; call this before making any change in ``uow``.
    """
    fresh = refresh(uow, actor)
    if may(fresh, action, structure):
        return fresh
    if target is None and structure is not None and not isinstance(structure, int):
        target = getattr(structure, "idnst", None)
    uow.audit.record(
        at=at,
        actor=actor.label,
        action=action.value,
        outcome="refused",
        target=target,
        details={"actor_kind": fresh.kind.value},
    )
    uow.commit()
    raise forbidden(actor, action, target)
