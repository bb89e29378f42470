"""Deliver due outbox messages over a :class:`~sceau.notifications.senders.Sender`.

Steps for each batch (each numbered step is its own committed transaction):

1. Recover expired leases: ``claimed`` → ``pending`` (nothing was handed to the server);
   ``sending`` → ``unknown`` (see the guarantee below).
2. Claim up to ``batch`` due ``pending`` messages: ``SELECT … FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so concurrent workers take disjoint sets; SQLite's ``BEGIN IMMEDIATE``
   serialises claimers. Claimed rows get ``locked_by`` = this worker and a lease, and the
   attempt is counted.
3. Connect once. If the server cannot be reached, every claimed message is rescheduled with
   exponential backoff (``backoff * 2**(attempts-1)``, capped) — or ``failed`` after
   ``max_attempts`` attempts.
4. For each message: mark it ``sending`` (commit), hand it to the server, then mark it
   ``sent`` (commit). A definite refusal (4xx / 5xx reply) reschedules or fails it.

Guarantee. A message is never handed to the SMTP server twice *after the server accepted
it*: a row only goes back to ``pending`` from ``claimed`` (before the hand-over) or after a
definite refusal; a worker that dies between the hand-over and step 4's second commit leaves
the row ``sending``, and when its lease expires it becomes ``unknown`` — shown to the
operator (metrics, ``sceau worker outbox``), resent only on their decision. The price is that
such a message may be lost (at-most-once in that window); every attempt of a message carries
the same Message-ID, so an operator resend is recognisable as the same mail by clients.
Ambiguous breaks (connection lost while the server had the message) are treated the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sceau.notifications.senders import (
    AmbiguousSendError,
    PermanentSendError,
    Sender,
    SendError,
    TransientSendError,
    build_email,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    backoff_seconds: int = 60
    backoff_max_seconds: int = 6 * 3600
    lease_seconds: int = 300
    batch_size: int = 50
    reply_to: str | None = None

    def delay(self, attempts: int) -> dt.timedelta:
        seconds = self.backoff_seconds * 2 ** max(attempts - 1, 0)
        return dt.timedelta(seconds=min(seconds, self.backoff_max_seconds))


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_due(
    unit_of_work: Callable[[], Any],
    sender: Sender,
    now: Callable[[], dt.datetime],
    *,
    owner: str,
    policy: DeliveryPolicy | None = None,
) -> DeliveryReport:
    """Deliver one batch of due messages; returns what happened (``claimed == 0``: idle)."""
    policy = policy or DeliveryPolicy()
    report = DeliveryReport()
    with unit_of_work() as uow:
        back, unknown = uow.outbox.recover_expired(now())
        report.recovered, report.unknown = back, unknown
        claimed = uow.outbox.claim(
            now=now(),
            owner=owner,
            lease_until=now() + dt.timedelta(seconds=policy.lease_seconds),
            limit=policy.batch_size,
        )
        uow.commit()
    report.claimed = len(claimed)
    if not claimed:
        return report
    remaining = list(claimed)
    try:
        with sender.session() as session:
            while remaining:
                row = remaining.pop(0)
                if not _send_one(unit_of_work, session, row, now, owner, policy, report):
                    break  # the connection is unusable: give the rest back
    except TransientSendError as error:  # could not connect at all
        report.errors.append(str(error))
        _reschedule(unit_of_work, remaining, now, owner, policy, report, str(error), "claimed")
        remaining = []
    if remaining:
        with unit_of_work() as uow:
            for row in remaining:
                uow.outbox.release(row.id, owner)
            uow.commit()
    return report


def _send_one(
    unit_of_work: Callable[[], Any],
    session: Any,
    row: Any,
    now: Callable[[], dt.datetime],
    owner: str,
    policy: DeliveryPolicy,
    report: DeliveryReport,
) -> bool:
    """Hand one message over; returns False when the connection should not be reused."""
    with unit_of_work() as uow:
        lease = now() + dt.timedelta(seconds=policy.lease_seconds)
        if not uow.outbox.mark_sending(row.id, owner, lease):
            uow.commit()
            return True  # lease lost (recovered by someone else): not ours any more
        uow.commit()
    try:
        session.send(build_email(row, reply_to=policy.reply_to))
    except AmbiguousSendError as error:
        report.errors.append(str(error))
        with unit_of_work() as uow:
            uow.outbox.mark_unknown(row.id, owner, error=str(error))
            uow.commit()
        report.unknown += 1
        return False
    except PermanentSendError as error:
        report.errors.append(str(error))
        with unit_of_work() as uow:
            uow.outbox.mark_failed(row.id, owner, frm="sending", error=str(error))
            uow.commit()
        report.failed += 1
        return True
    except (TransientSendError, SendError) as error:
        report.errors.append(str(error))
        _reschedule(unit_of_work, [row], now, owner, policy, report, str(error), "sending")
        return False
    with unit_of_work() as uow:
        uow.outbox.mark_sent(row.id, owner, now())
        uow.commit()
    report.sent += 1
    return True


def _reschedule(
    unit_of_work: Callable[[], Any],
    rows: list[Any],
    now: Callable[[], dt.datetime],
    owner: str,
    policy: DeliveryPolicy,
    report: DeliveryReport,
    error: str,
    frm: str,
) -> None:
    with unit_of_work() as uow:
        for row in rows:
            if row.attempts >= policy.max_attempts:
                final = f"abandonné après {row.attempts} tentatives: {error}"
                uow.outbox.mark_failed(row.id, owner, frm=frm, error=final)
                report.failed += 1
            else:
                retry_at = now() + policy.delay(row.attempts)
                uow.outbox.mark_retry(row.id, owner, frm=frm, next_attempt_at=retry_at, error=error)
                report.retried += 1
        uow.commit()
    log.warning("outbox: %d message(s) rescheduled or failed: %s", len(rows), error)
