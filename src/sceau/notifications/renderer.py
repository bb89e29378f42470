"""Render a mail from ``templates/<kind>/{subject.txt,body.txt,body.html}`` (Jinja2, French).

Every template receives the event payload plus ``portal_url`` (no trailing slash) and the
helpers ``link(path)`` (absolute URL on the portal), ``date_fr`` and ``usage_label``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

USAGES = {
    "SSL_SERV": "authentification serveur (SSL_SERV)",
    "SSL_CLI": "authentification client (SSL_CLI)",
    "SIGN": "signature (SIGN)",
    "CONF": "confidentialité (CONF)",
}

MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def date_fr(value: Any) -> str:
    """``2026-12-01T…`` or a datetime → ``1 décembre 2026``."""
    if value is None or value == "":
        return ""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{when.day} {MONTHS[when.month - 1]} {when.year}"


def usage_label(value: Any) -> str:
    return USAGES.get(str(value), str(value or ""))


def new_message_id(sender: str) -> str:
    """A unique Message-ID on the sender's domain, chosen before any delivery attempt."""
    domain = sender.rsplit("@", 1)[-1].strip(" >") or "sceau.localhost"
    return f"<{secrets.token_hex(16)}@{domain}>"


class Renderer:
    def __init__(self, portal_url: str):
        self.portal_url = portal_url.rstrip("/")
        common: dict[str, Any] = {"keep_trailing_newline": False, "trim_blocks": True}
        self._text = Environment(
            loader=PackageLoader("sceau.notifications", "templates"),
            autoescape=False,  # noqa: S701  # plain-text bodies: no HTML to escape
            lstrip_blocks=True,
            **common,
        )
        self._html = Environment(
            loader=PackageLoader("sceau.notifications", "templates"),
            autoescape=select_autoescape(["html"]),
            **common,
        )
        for env in (self._text, self._html):
            env.filters["date_fr"] = date_fr
            env.filters["usage_label"] = usage_label
            env.globals["link"] = self.link

    def link(self, path: Any) -> str:
        target = str(path or "")
        if target.startswith(("http://", "https://")):
            return target
        return f"{self.portal_url}/{target.lstrip('/')}"

    def has_template(self, kind: str) -> bool:
        try:
            self._text.get_template(f"{kind}/subject.txt")
        except Exception:  # jinja2.TemplateNotFound
            return False
        return True

    def render(self, kind: str, context: dict[str, Any]) -> RenderedMail:
        values = {**context, "portal_url": self.portal_url}
        subject = self._text.get_template(f"{kind}/subject.txt").render(values)
        text = self._text.get_template(f"{kind}/body.txt").render(values)
        html = self._html.get_template(f"{kind}/body.html").render(values)
        return RenderedMail(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)
