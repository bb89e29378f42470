"""Development-only pages: the mails caught by the embedded SMTP server (``/dev/mails``).

Included by ``create_app`` only when ``settings.dev_pages_enabled`` (TEST environment by
default); never exposed in production.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse

from sceau.notifications.mail_catcher import default_catcher

router = APIRouter(prefix="/dev", include_in_schema=False)


@router.get("/mails", response_class=HTMLResponse)
def caught_mails() -> str:
    catcher = default_catcher()
    mails = list(reversed(catcher.mails())) if catcher else []
    rows = "".join(
        f"<tr><td>{m.received_at:%Y-%m-%d %H:%M:%S}</td><td>{escape(', '.join(m.rcpt_tos))}</td>"
        f'<td><a href="/dev/mails/{len(mails) - i}">{escape(m.subject)}</a></td></tr>'
        for i, m in enumerate(mails)
    )
    state = (
        f"serveur SMTP de développement sur {catcher.host}:{catcher.port}"
        if catcher
        else "aucun serveur SMTP de développement dans ce processus"
    )
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        "<title>E-mails capturés</title></head><body>"
        f"<h1>E-mails capturés ({len(mails)})</h1><p>{escape(state)}</p>"
        "<table><tr><th>Reçu</th><th>Destinataires</th><th>Objet</th></tr>"
        f"{rows}</table></body></html>"
    )


@router.get("/mails/{number}", response_class=HTMLResponse)
def caught_mail(number: int) -> str:
    catcher = default_catcher()
    mails = catcher.mails() if catcher else []
    if not 1 <= number <= len(mails):
        raise HTTPException(404, "e-mail inconnu")
    mail = mails[number - 1]
    message = mail.message
    headers = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(str(message[name] or ''))}</td></tr>"
        for name in ("From", "To", "Cc", "Subject", "Date", "Message-ID")
    )
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{escape(mail.subject)}</title></head><body>"
        f'<p><a href="/dev/mails">← tous les e-mails</a></p><table>{headers}</table>'
        f"<h2>Texte</h2><pre>{escape(mail.text())}</pre>"
        f'<h2>HTML</h2><iframe sandbox="" style="width:100%;height:480px" '
        f'srcdoc="{escape(mail.html(), quote=True)}"></iframe></body></html>'
    )
