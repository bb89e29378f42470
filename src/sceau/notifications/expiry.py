"""Expiry reminders at configurable offsets, and per-administrator digests.

A certificate is *in band* ``o`` (an offset, in days) when its tightest reached offset is
``o``: ``now + next_smaller_offset < not_after <= now + o`` (for offset 0, the band is the
``grace_days`` after expiry). Each band is one range scan on ``certificates.not_after``,
keeping issued, unrevoked, unrenewed certificates without a notice at that offset (unique
``expiry_notices(certificate_id, offset_days)``): so a reminder fires once per offset, never
for a revoked certificate or one replaced by a newer issued certificate, and only the tightest
offset fires when a scan comes late (a 7-day reminder, not also the 30-day one).

Recipients are :func:`certificate_contacts`. An administrator with more than
``digest_threshold`` due certificates in a scan — or whose digest for the current period is
still open — gets them in one digest (``dedup_key = digest:<email>:<period>``) sent at the end
of the period (next ``digest_hour`` each day, or next Monday for weekly digests) instead of
one mail per certificate; certificates found later in the same period join the open digest.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sceau.notifications.events import EXPIRY_DIGEST, EXPIRY_REMINDER
from sceau.notifications.renderer import Renderer, new_message_id

DAY = dt.timedelta(days=1)
WATERMARK = "expiry-scan"


@dataclass(frozen=True)
class ExpiryPolicy:
    offsets_days: tuple[int, ...] = (60, 30, 7, 0)
    grace_days: int = 7
    digest_threshold: int = 5
    digest_frequency: str = "daily"  # daily | weekly
    digest_hour_utc: int = 6
    batch_size: int = 2000


@dataclass
class ScanReport:
    due: int = 0
    reminders: int = 0
    digests_opened: int = 0
    digest_items: int = 0
    without_contact: int = 0
    by_offset: dict[int, int] = field(default_factory=dict)


def certificate_contacts(uow: Any, certificates: list[dict[str, Any]]) -> dict[int, list[str]]:
    """E-mail addresses to remind, per certificate id: the technical administrators with an
    active habilitation on the certificate's structure, then the contacts given on the order
    (``actor_email``, ``cc_email``) — the guide sends the notice to the addresses "renseignées
    sur la plateforme"."""
    administrators = uow.expiry.administrators(
        {c["structure_id"] for c in certificates if c["structure_id"] is not None}
    )
    ordered = uow.expiry.order_contacts(c["id"] for c in certificates)
    contacts: dict[int, list[str]] = {}
    for certificate in certificates:
        emails: list[str] = []
        candidates = [a["email"] for a in administrators.get(certificate["structure_id"], [])]
        for email in candidates + ordered.get(certificate["id"], []):
            if email.lower() not in {e.lower() for e in emails}:
                emails.append(email)
        contacts[certificate["id"]] = emails
    return contacts


def digest_send_time(now: dt.datetime, policy: ExpiryPolicy) -> dt.datetime:
    """End of the digest period containing ``now``: the next ``digest_hour_utc`` strictly
    after ``now`` (daily), or that hour on the next Monday (weekly)."""
    at = now.astimezone(dt.UTC).replace(
        hour=policy.digest_hour_utc, minute=0, second=0, microsecond=0
    )
    if at <= now:
        at += DAY
    if policy.digest_frequency == "weekly":
        while at.weekday() != 0:
            at += DAY
    return at


def scan_expiring(
    uow: Any,
    renderer: Renderer,
    *,
    sender: str,
    now: dt.datetime,
    policy: ExpiryPolicy | None = None,
) -> ScanReport:
    """Record notices and queue reminders for every certificate now due (the caller commits).

    After a first full pass, a scan only reads what changed since the previous one (its
    *watermark*: time and highest certificate id): certificates whose offset was crossed
    since then (``not_after`` in ``(previous + o, now + o]``), and certificates added since
    then (primary-key range). So a steady-state scan touches only newly due rows.
    """
    policy = policy or ExpiryPolicy()
    report = ScanReport()
    offsets = sorted(set(policy.offsets_days), reverse=True)
    mark = uow.job_leases.watermark(WATERMARK)
    last_id = uow.expiry.last_certificate_id()
    for index, offset in enumerate(offsets):
        smaller = offsets[index + 1] if index + 1 < len(offsets) else None
        lower = now - policy.grace_days * DAY if smaller is None else now + smaller * DAY
        if offset == 0:
            lower = now - policy.grace_days * DAY
        until = now + offset * DAY
        ranges: list[tuple[dt.datetime, int | None]] = [(lower, None)]
        if mark is not None and mark[0] <= now:
            crossed_after = max(lower, mark[0] + offset * DAY)
            ranges = [(crossed_after, None), (lower, mark[1])]
        for after, id_above in ranges:
            while True:
                due = uow.expiry.due_in_band(
                    offset, after=after, until=until, limit=policy.batch_size, id_above=id_above
                )
                if not due:
                    break
                _notify(
                    uow, renderer, due, offset, sender=sender, now=now, policy=policy, report=report
                )
                _count(report, due, offset)
                if len(due) < policy.batch_size:
                    break
    uow.job_leases.set_watermark(WATERMARK, now, last_id)
    return report


def _count(report: ScanReport, due: list[dict[str, Any]], offset: int) -> None:
    report.due += len(due)
    report.by_offset[offset] = report.by_offset.get(offset, 0) + len(due)


def _item(
    certificate: dict[str, Any], structure: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    not_after: dt.datetime = certificate["not_after"]
    days_left = max((not_after - now).days + (1 if (not_after - now) % DAY else 0), 0)
    return {
        "certificate_id": certificate["id"],
        "serial": certificate["serial"],
        "common_name": certificate["common_name"],
        "usage": certificate["usage"],
        "not_after": not_after.isoformat(),
        "days_left": days_left,
        "structure": structure.get("idnst", ""),
        "finess": structure.get("finess_et"),
        "raison_sociale": structure.get("raison_sociale", ""),
    }


def _notify(
    uow: Any,
    renderer: Renderer,
    due: list[dict[str, Any]],
    offset: int,
    *,
    sender: str,
    now: dt.datetime,
    policy: ExpiryPolicy,
    report: ScanReport,
) -> None:
    contacts = certificate_contacts(uow, due)
    structures = uow.expiry.structures(c["structure_id"] for c in due if c["structure_id"])
    per_recipient: dict[str, list[int]] = defaultdict(list)
    for certificate in due:
        for email in contacts[certificate["id"]]:
            per_recipient[email.lower()].append(certificate["id"])
    send_at = digest_send_time(now, policy)
    period = send_at.strftime("%Y-%m-%dT%H")
    digested: set[str] = set()
    open_digests: dict[str, Any] = {}
    for email_key, ids in per_recipient.items():
        existing = uow.outbox.by_dedup_key(f"digest:{email_key}:{period}", for_update=True)
        if existing is not None and existing.status == "pending":
            open_digests[email_key] = existing
            digested.add(email_key)
        elif existing is None and len(ids) > policy.digest_threshold:
            digested.add(email_key)
    items = {c["id"]: _item(c, structures.get(c["structure_id"], {}), now) for c in due}
    notices = []
    for certificate in due:
        emails = contacts[certificate["id"]]
        direct = [e for e in emails if e.lower() not in digested]
        outcome = "nobody"
        if direct:
            context = {**items[certificate["id"]], "offset_days": offset, "renew_url": "/"}
            rendered = renderer.render(EXPIRY_REMINDER, context)
            uow.outbox.add(
                dedup_key=f"expiry:{certificate['id']}:{offset}",
                kind=EXPIRY_REMINDER,
                sender=sender,
                recipients=direct,
                cc=[],
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
            report.reminders += 1
            outcome = "mailed"
        elif emails:
            outcome = "digested"
        else:
            report.without_contact += 1
        notices.append(
            {
                "certificate_id": certificate["id"],
                "offset_days": offset,
                "noticed_at": now,
                "outcome": outcome,
            }
        )
    for email_key in sorted(digested):
        new_items = [items[i] for i in per_recipient[email_key]]
        report.digest_items += len(new_items)
        existing = open_digests.get(email_key)
        address = next(
            e for i in per_recipient[email_key] for e in contacts[i] if e.lower() == email_key
        )
        if existing is not None:
            known = {item["certificate_id"] for item in existing.context["items"]}
            merged = existing.context["items"] + [
                item for item in new_items if item["certificate_id"] not in known
            ]
            _fill_digest(existing, renderer, merged)
        else:
            row = uow.outbox.add(
                dedup_key=f"digest:{email_key}:{period}",
                kind=EXPIRY_DIGEST,
                sender=sender,
                recipients=[address],
                cc=[],
                subject="",
                body_text="",
                body_html=None,
                context=None,
                message_id=new_message_id(sender),
                status="pending",
                attempts=0,
                next_attempt_at=send_at,
                created_at=now,
            )
            _fill_digest(row, renderer, new_items)
            report.digests_opened += 1
    uow.expiry.record(notices)


def _fill_digest(row: Any, renderer: Renderer, items: list[dict[str, Any]]) -> None:
    ordered = sorted(items, key=lambda item: (item["not_after"], item["serial"]))
    context = {"items": ordered}
    rendered = renderer.render(EXPIRY_DIGEST, context)
    row.context = context  # a new dict: the JSON column sees the change
    row.subject = rendered.subject
    row.body_text = rendered.text
    row.body_html = rendered.html
