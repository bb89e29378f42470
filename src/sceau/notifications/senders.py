"""Mail senders: SMTP (smtplib; STARTTLS, implicit TLS, authentication) and in-memory/console
twins for development and tests.

A sender opens a *session* (one connection for a batch). Errors are classified, because
delivery decides differently on each:

- :class:`TransientSendError` — certainly not accepted, try again later (connection refused,
  4xx reply, lost connection before the message was handed over);
- :class:`PermanentSendError` — certainly not accepted and retrying will not help (5xx);
- :class:`AmbiguousSendError` — the connection broke while the server had the message: it
  may have been accepted, so it must not be sent again automatically.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol


class SendError(Exception):
    pass


class TransientSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


class AmbiguousSendError(SendError):
    pass


class SenderSession(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class Sender(Protocol):
    def session(self) -> contextlib.AbstractContextManager[SenderSession]: ...


def build_email(row: Any, *, reply_to: str | None = None) -> EmailMessage:
    """The MIME message of an outbox row (text + HTML alternative, its stored Message-ID)."""
    message = EmailMessage()
    message["From"] = row.sender
    message["To"] = ", ".join(row.recipients)
    if row.cc:
        message["Cc"] = ", ".join(row.cc)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message["Content-Language"] = "fr"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Sceau-Kind"] = row.kind
    message.set_content(row.body_text)
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html")
    return message


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int | None = None
    security: str = "none"  # none | starttls | tls
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    verify_tls: bool = True

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return {"tls": 465, "starttls": 587}.get(self.security, 25)


class _SmtpSession:
    def __init__(self, client: smtplib.SMTP):
        self.client = client

    def send(self, message: EmailMessage) -> None:
        try:
            refused = self.client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(400 <= code < 500 for code in codes):
                raise TransientSendError(
                    f"destinataires refusés temporairement: {error}"
                ) from error
            raise PermanentSendError(f"destinataires refusés: {error.recipients}") from error
        except smtplib.SMTPResponseException as error:
            # A reply: the server says what happened, nothing is ambiguous.
            text = f"{error.smtp_code} {error.smtp_error!r}"
            if 400 <= error.smtp_code < 500:
                raise TransientSendError(text) from error
            raise PermanentSendError(text) from error
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise AmbiguousSendError(f"connexion perdue pendant l'envoi: {error}") from error
        if refused:  # some recipients refused, the others accepted: accepted, note it
            sys.stderr.write(f"sceau: some recipients refused for {message['Message-ID']}\n")


class SmtpSender:
    def __init__(self, config: SmtpConfig):
        self.config = config

    @contextlib.contextmanager
    def session(self) -> Iterator[SenderSession]:
        config = self.config
        context = ssl.create_default_context()
        if not config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            client: smtplib.SMTP
            if config.security == "tls":
                client = smtplib.SMTP_SSL(
                    config.host, config.effective_port, timeout=config.timeout, context=context
                )
            else:
                client = smtplib.SMTP(config.host, config.effective_port, timeout=config.timeout)
            client.ehlo()
            if config.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if config.username:
                client.login(config.username, config.password or "")
        except smtplib.SMTPAuthenticationError as error:
            raise TransientSendError(f"authentification SMTP refusée: {error}") from error
        except (smtplib.SMTPException, OSError) as error:
            raise TransientSendError(
                f"serveur SMTP {config.host}:{config.effective_port} injoignable: {error}"
            ) from error
        try:
            yield _SmtpSession(client)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            with contextlib.suppress(OSError):
                client.close()


@dataclass
class MemorySender:
    """Keeps every message in memory (tests, development); optionally echoes to stdout."""

    echo: bool = False
    messages: list[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def session(self) -> Iterator[SenderSession]:
        yield self

    def send(self, message: EmailMessage) -> None:
        with self._lock:
            self.messages.append(message)
        if self.echo:
            sys.stdout.write(f"--- mail {message['Message-ID']}\n{message.as_string()}\n")


def ConsoleSender() -> MemorySender:  # reads as a class at call sites
    return MemorySender(echo=True)
