"""Event kinds that send mail, how a use case records one, and how events become messages.

The contract for use cases (any layer)
--------------------------------------
A notification is a ``domain_events`` row written *in the same transaction* as the change
that causes it, so a rolled-back change never mails anyone and a committed one always does.
Call :func:`record_event` with the unit of work you are about to commit::

    record_event(uow, CERTIFICATE_AVAILABLE, at=now, recipients=[actor_email],
                 cc=[cc_email] if cc_email else [], payload={...})

The ``sceau.registration`` layer may not import this package (import-linter contract), so
use cases there write the same row directly; it is equivalent::

    uow.events.record(at=now, kind="certificate.available", subject=idnst,
                      recipient=actor_email,
                      payload={..., "recipients": [actor_email], "cc": [cc_email]})

Payload keys read by the templates (all optional except where a template needs them):
``structure`` (IDNST), ``raison_sociale``, ``finess``, ``usage`` (``SSL_SERV``, ``SSL_CLI``,
``SIGN``, ``CONF``...), ``service`` (the service applicatif, e.g. ``INSI-AUTO``),
``common_name``, ``serial``, ``not_after`` (ISO 8601), ``order`` (order number),
``retrieval_url``/``links`` (absolute or portal-relative paths), ``reason``,
``administrator_name``, ``actor_email`` (the "Email de l'acteur": receives the mail) and
``cc_email`` (the "email d'une personne à informer": a CC copy). Reserved keys:
``recipients`` and ``cc`` (lists of addresses).

From events to messages
-----------------------
The worker (:func:`expand_events`) takes unprocessed events with ``FOR UPDATE SKIP
LOCKED``, renders one message per event (To = recipients, CC = cc + ``cc_email``), inserts it
into ``outbox_messages`` with ``dedup_key = "event:<id>"`` and marks the event processed, all
in one transaction: an event becomes exactly one message, or none when it has no recipient
or no template (e.g. ``habilitation.requested``, meant for the operator's queue). Delivery
state (attempts, lease, Message-ID, errors) lives on the message, never on the event.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sceau.notifications.renderer import Renderer, new_message_id

log = logging.getLogger(__name__)

HABILITATION_GRANTED = "habilitation.granted"
HABILITATION_REJECTED = "habilitation.rejected"
HABILITATION_REVOKED = "habilitation.revoked"
HABILITATION_WITHDRAWN = "habilitation.withdrawn"
ORDER_RECEIVED = "order.received"
CERTIFICATE_AVAILABLE = "certificate.available"
CERTIFICATE_RETRIEVED = "certificate.retrieved"
CERTIFICATE_REVOKED = "certificate.revoked"
CERTIFICATE_RENEWED = "certificate.renewed"
EXPIRY_REMINDER = "expiry.reminder"
EXPIRY_DIGEST = "expiry.digest"

MAILED_EVENTS = frozenset(
    {
        HABILITATION_GRANTED,
        HABILITATION_REJECTED,
        HABILITATION_REVOKED,
        HABILITATION_WITHDRAWN,
        ORDER_RECEIVED,
        CERTIFICATE_AVAILABLE,
        CERTIFICATE_RETRIEVED,
        CERTIFICATE_REVOKED,
        CERTIFICATE_RENEWED,
    }
)


def record_event(
    uow: Any,
    kind: str,
    *,
    at: dt.datetime,
    recipients: list[str],
    cc: list[str] | None = None,
    payload: dict[str, Any] | None = None,
    subject: str | None = None,
) -> Any:
    """Write a domain event in ``uow``'s transaction (the caller commits). ``subject`` is what
    the event is about (an IDNST, a serial), used for searching the event log."""
    clean_to = _addresses(recipients)
    body = dict(payload or {})
    body["recipients"] = clean_to
    body["cc"] = _addresses(cc or [])
    return uow.events.record(
        at=at,
        kind=kind,
        subject=subject or body.get("structure") or body.get("serial"),
        recipient=clean_to[0] if clean_to else None,
        payload=body,
    )


def _addresses(values: list[str] | tuple[str, ...] | None) -> list[str]:
    seen: list[str] = []
    for value in values or []:
        address = (value or "").strip()
        if address and address.lower() not in {s.lower() for s in seen}:
            seen.append(address)
    return seen


def message_addresses(
    recipient: str | None, payload: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """(To, CC) of an event: explicit lists, the ``recipient`` column, ``actor_email``;
    CC adds ``cc_email``. An address never appears twice, and never in CC when in To."""
    to = _addresses(
        [*(payload.get("recipients") or []), recipient or "", payload.get("actor_email") or ""]
    )
    cc_extra = payload.get("cc_email")
    cc_list = [*(payload.get("cc") or []), *([cc_extra] if isinstance(cc_extra, str) else [])]
    in_to = {address.lower() for address in to}
    cc = [address for address in _addresses(cc_list) if address.lower() not in in_to]
    return to, cc


def expand_events(
    uow: Any, renderer: Renderer, *, sender: str, now: dt.datetime, limit: int = 200
) -> int:
    """Turn pending events into outbox messages (one transaction; the caller commits).
    Returns the number of messages made."""
    made = 0
    for event in uow.events.pending(limit=limit):
        payload = dict(event.payload or {})
        to, cc = message_addresses(event.recipient, payload)
        if event.kind in MAILED_EVENTS and to and renderer.has_template(event.kind):
            key = f"event:{event.id}"
            if uow.outbox.by_dedup_key(key) is None:
                context = {**payload, "event_at": event.at.isoformat(), "kind": event.kind}
                rendered = renderer.render(event.kind, context)
                uow.outbox.add(
                    dedup_key=key,
                    event_id=event.id,
                    kind=event.kind,
                    sender=sender,
                    recipients=to,
                    cc=cc,
                    subject=rendered.subject,
                    body_text=rendered.text,
                    body_html=rendered.html,
                    context=context,
                    message_id=new_message_id(sender),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                made += 1
        elif event.kind in MAILED_EVENTS:
            log.warning("event %s (%s) has no recipient: no mail", event.id, event.kind)
        uow.events.mark_processed(event.id, now)
    return made
