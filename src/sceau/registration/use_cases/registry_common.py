"""Plumbing shared by the registry use cases: the unit of work, actors, lookups, audit."""

from __future__ import annotations

from typing import Any

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Action, Actor, authorize, forbidden, refresh


def open_uow(services: Any) -> Any:
    """The services' unit of work, typed loosely: registry repositories are attributes of it."""
    return services.unit_of_work()


def as_actor(actor: Actor | str) -> Actor:
    """Commands accept an :class:`Actor`, or a plain label meaning an operator (CLI, scripts)."""
    return actor if isinstance(actor, Actor) else Actor.operator(actor)


def load_structure(
    uow: Any, actor: Actor, action: Action, reference: str, *, at: Any
) -> tuple[Any, Actor]:
    """The structure ``reference`` (IDNST or FINESS) if ``actor`` may ``action`` on it.

    Someone who is not the operator gets the same refusal for a structure that does not exist
    as for one they may not touch, so that refusals do not reveal which structures exist.
    """
    structure = uow.structures.by_reference(reference)
    if structure is None:
        fresh = refresh(uow, actor)
        if not fresh.is_operator:
            authorize(uow, fresh, action, -1, at=at, target=reference.strip()[:64])
        raise SceauError(
            "structure_not_found", f"structure {reference!r} inconnue", ErrorKind.NOT_FOUND
        )
    fresh = authorize(uow, actor, action, structure, at=at, target=structure.idnst)
    return structure, fresh


def require_operator(
    uow: Any, actor: Actor, action: Action, *, at: Any, target: str | None
) -> None:
    """Operator-only actions (vendors, persons, cards, decisions on habilitations)."""
    # -1 is no structure: only the operator may act on it.
    authorize(uow, actor, action, -1, at=at, target=target)
    if not actor.is_operator:  # never reached: authorize has raised
        raise forbidden(actor, action, target)


def audit(
    uow: Any,
    *,
    at: Any,
    actor: Actor,
    action: str,
    target: str | None,
    details: dict[str, Any] | None = None,
    outcome: str = "success",
) -> None:
    uow.audit.record(
        at=at, actor=actor.label, action=action, outcome=outcome, target=target, details=details
    )
