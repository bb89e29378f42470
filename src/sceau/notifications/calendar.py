"""An iCalendar (RFC 5545) feed of an administrator's upcoming certificate expiries.

The feed lives at a secret URL ``/calendar/<token>.ics``; only the SHA-256 of the token is
stored, so a database leak does not reveal feeds, and revoking the token closes the URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

HORIZON = dt.timedelta(days=400)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_calendar_token(
    uow: Any, person_id: int, *, now: dt.datetime, label: str | None = None
) -> str:
    """A new secret token for ``person_id``'s feed (shown once; the caller commits)."""
    token = secrets.token_urlsafe(32)
    uow.calendar_tokens.create(
        token_hash=token_hash(token), person_id=person_id, label=label, created_at=now
    )
    return token


def revoke_calendar_token(uow: Any, token: str, *, now: dt.datetime) -> bool:
    row = uow.calendar_tokens.active_by_hash(token_hash(token))
    if row is None:
        return False
    row.revoked_at = now
    return True


def calendar_feed(uow: Any, token: str, *, now: dt.datetime, portal_url: str) -> str | None:
    """The ``.ics`` text, or None when the token is unknown or revoked."""
    row = uow.calendar_tokens.active_by_hash(token_hash(token))
    if row is None:
        return None
    row.last_used_at = now
    items = uow.expiry.upcoming_for_person(row.person_id, now=now, horizon=now + HORIZON)
    return render_ics(items, now=now, portal_url=portal_url)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545 §3.1), never inside a character."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not parts else 74
        if len((current + char).encode()) > limit:
            parts.append(current)
            current = char
        else:
            current += char
    parts.append(current)
    return "\r\n ".join(parts)


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def render_ics(items: list[dict[str, Any]], *, now: dt.datetime, portal_url: str) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//sceau//certificats ORG//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Expirations des certificats logiciels",
    ]
    for item in items:
        not_after: dt.datetime = item["not_after"]
        day = not_after.astimezone(dt.UTC).date()
        summary = f"Expiration du certificat {item['common_name']} ({item['raison_sociale']})"
        description = (
            f"Le certificat {item['common_name']} (n° de série {item['serial']}, usage "
            f"{item['usage']}) de la structure {item['raison_sociale']} (IDNST {item['idnst']}) "
            f"expire le {not_after.astimezone(dt.UTC):%d/%m/%Y à %H:%M} UTC. "
            f"Renouvelez-le avant cette date : {portal_url}/"
        )
        lines += [
            "BEGIN:VEVENT",
            f"UID:cert-{item['serial']}@sceau",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_escape(summary)}",
            f"DESCRIPTION:{_escape(description)}",
            f"URL:{portal_url}/",
            "TRANSP:TRANSPARENT",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{_escape(summary)}",
            "TRIGGER:-P30D",
            "END:VALARM",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
