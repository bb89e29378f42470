"""User-typed text the registration layer accepts: e-mail addresses and search strings.

One place for these rules, so that the order form, the person records and every search box
refuse (or neutralise) the same things: line breaks and commas that would forge mail headers,
NUL characters that PostgreSQL refuses, control characters.
"""

from __future__ import annotations

import re
import unicodedata

from sceau.pki.errors import SceauError

# A practical subset of RFC 5321: dot-atom local part, LDH domain labels, alphabetic TLD.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
SEARCH_MAX = 100


def validate_email(value: str | None, what: str = "adresse e-mail") -> str:
    """An address a mail header can carry as one recipient, or ``SceauError``."""
    text = (value or "").strip()
    if not text:
        raise SceauError("email_required", f"{what}: adresse e-mail obligatoire")
    if len(text) > 254 or not _EMAIL.match(text) or ".." in text or text.startswith("."):
        shown = "".join(c if c.isprintable() else "?" for c in text[:80])
        raise SceauError("email_format", f"{what}: adresse e-mail {shown!r} invalide")
    return text


def search_text(value: str | None) -> str | None:
    """A search string with control characters removed and its length capped; None if empty."""
    if value is None:
        return None
    cleaned = "".join(c for c in value if not unicodedata.category(c).startswith("C") or c == " ")
    cleaned = " ".join(cleaned.split())[:SEARCH_MAX]
    return cleaned or None
