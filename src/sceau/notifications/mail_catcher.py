"""An embedded SMTP server (aiosmtpd) that keeps every mail in memory, for development.

``sceau serve`` starts it on embedded defaults (no ``SCEAU_SMTP_HOST``) and the outbox
delivers to it; ``/dev/mails`` lists what it caught. Never used in production.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


@dataclass(frozen=True)
class CaughtMail:
    received_at: dt.datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"] or "")

    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""

    def html(self) -> str:
        body = self.message.get_body(preferencelist=("html",))
        return body.get_content() if body is not None else ""


class _Handler:
    def __init__(self, catcher: MailCatcher):
        self.catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else str(data).encode()
        self.catcher.add(
            CaughtMail(
                received_at=dt.datetime.now(dt.UTC),
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw,
            )
        )
        return "250 Message accepted for delivery"


class MailCatcher:
    """``start()``/``stop()`` an aiosmtpd controller on ``host:port``; ``mails()`` lists them."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8025, keep: int = 2000):
        self.host = host
        self.port = port
        self._mails: deque[CaughtMail] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._controller: Any = None

    def add(self, mail: CaughtMail) -> None:
        with self._lock:
            self._mails.append(mail)

    def mails(self) -> list[CaughtMail]:
        with self._lock:
            return list(self._mails)

    def clear(self) -> None:
        with self._lock:
            self._mails.clear()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> MailCatcher:
        from aiosmtpd.controller import Controller

        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=10
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_default: MailCatcher | None = None


def default_catcher() -> MailCatcher | None:
    """The catcher this process started (``sceau serve``), if any."""
    return _default


def start_default_catcher(host: str, port: int) -> MailCatcher:
    global _default  # one embedded catcher per process
    if _default is None or not _default.running:
        _default = MailCatcher(host, port).start()
    return _default


def stop_default_catcher() -> None:
    global _default
    if _default is not None:
        _default.stop()
        _default = None
