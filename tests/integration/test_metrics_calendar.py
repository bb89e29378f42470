"""/metrics (Prometheus text), the secret .ics calendar feed, job leases, /dev/mails."""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import socket
from email.message import EmailMessage

import httpx
import pytest
from notification_factories import (
    add_administrator,
    add_certificates,
    add_structures,
    certificate_row,
    organisations_authority_id,
)

from sceau.notifications import events as ev
from sceau.notifications.calendar import create_calendar_token, revoke_calendar_token
from sceau.notifications.mail_catcher import start_default_catcher, stop_default_catcher
from sceau.web.app import create_app
from sceau.worker.runner import Job, Runner

DAY = dt.timedelta(days=1)


class AppClient:
    """Requests to the app in-process (httpx's ASGI transport; the lifespan is not run)."""

    def __init__(self, app):
        self.app = app

    def get(self, url: str) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.get(url)

        return asyncio.run(send())


@pytest.fixture
def client(services) -> AppClient:
    return AppClient(create_app(services))


def metric(text: str, name: str, **labels: str) -> float:
    wanted = name + (
        "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    )
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{wanted} not in metrics")


def test_metrics_exposition(services, clock, client) -> None:
    now = clock.now()
    with services.unit_of_work() as uow:
        [structure] = add_structures(uow, 1, now=now)
        authority = organisations_authority_id(uow)
        add_certificates(
            uow,
            [
                certificate_row(authority, structure, now + 10 * DAY),
                certificate_row(authority, structure, now + 45 * DAY),
                certificate_row(authority, structure, now + 80 * DAY),
                certificate_row(authority, structure, now + 400 * DAY),
                certificate_row(authority, structure, now - DAY),
                certificate_row(authority, structure, now + 20 * DAY, revoked_at=now),
                certificate_row(authority, structure, now + 20 * DAY, status="prepared"),
            ],
        )
        ev.record_event(uow, ev.ORDER_RECEIVED, at=now, recipients=["a@b.test"])
        uow.commit()
    Runner(services, jobs=[Job("events", lambda: None, 1)]).run_once()
    from sceau.worker.jobs_notifications import expand_events_job

    expand_events_job(services)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE sceau_certificates gauge" in text
    assert metric(text, "sceau_certificates", state="valid") == 4
    assert metric(text, "sceau_certificates", state="expired") == 1
    assert metric(text, "sceau_certificates", state="revoked") == 1
    assert metric(text, "sceau_certificates", state="prepared") == 1
    assert metric(text, "sceau_certificates_expiring", within_days="30") == 1
    assert metric(text, "sceau_certificates_expiring", within_days="60") == 2
    assert metric(text, "sceau_certificates_expiring", within_days="90") == 3
    assert metric(text, "sceau_outbox_backlog") == 1
    assert metric(text, "sceau_outbox_messages", status="pending") == 1
    assert metric(text, "sceau_outbox_failures") == 0
    assert metric(text, "sceau_job_runs_total", job="events") == 1
    assert metric(text, "sceau_job_last_duration_seconds", job="events") >= 0


def test_calendar_feed_at_a_secret_revocable_url(services, clock, client) -> None:
    now = clock.now()
    with services.unit_of_work() as uow:
        mine = add_structures(uow, 2, now=now)
        other = add_structures(uow, 1, now=now, start=100)
        person = add_administrator(uow, mine, email="admin@editeur.test", now=now)
        authority = organisations_authority_id(uow)
        add_certificates(
            uow,
            [
                certificate_row(authority, mine[0], now + 30 * DAY, serial="a1" * 16),
                certificate_row(authority, mine[1], now + 90 * DAY, serial="a2" * 16),
                certificate_row(authority, mine[1], now - DAY, serial="a3" * 16),  # expired
                certificate_row(authority, other[0], now + 30 * DAY, serial="b1" * 16),
            ],
        )
        token = create_calendar_token(uow, person, now=now, label="agenda")
        uow.commit()
        stored = uow.calendar_tokens.for_person(person)[0].token_hash
    assert token not in stored  # only the hash is kept
    response = client.get(f"/calendar/{token}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    body = response.text
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.count("BEGIN:VEVENT") == 2
    assert f"UID:cert-{'a1' * 16}@sceau" in body and "b1" * 16 not in body
    day = (now + 30 * DAY).date()
    assert f"DTSTART;VALUE=DATE:{day:%Y%m%d}" in body
    assert "SUMMARY:Expiration du certificat" in body
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    assert client.get("/calendar/not-a-token.ics").status_code == 404
    with services.unit_of_work() as uow:
        assert revoke_calendar_token(uow, token, now=now)
        uow.commit()
    assert client.get(f"/calendar/{token}.ics").status_code == 404


def test_cluster_job_runs_once_under_its_lease(services, clock) -> None:
    calls: list[str] = []
    first = Runner(services, owner="w1", jobs=[Job("scan", lambda: calls.append("w1"), 60, True)])
    second = Runner(services, owner="w2", jobs=[Job("scan", lambda: calls.append("w2"), 60, True)])
    with services.unit_of_work() as uow:  # w1 holds the lease (a long scan in progress)
        assert uow.job_leases.acquire(
            "scan", "w1", now=clock.now(), until=clock.now() + dt.timedelta(minutes=10)
        )
        uow.commit()
    assert second.run_job(second.jobs[0]) is False
    assert first.run_job(first.jobs[0]) is True  # its own lease; released after the run
    assert second.run_job(second.jobs[0]) is True
    assert calls == ["w1", "w2"]
    with services.unit_of_work() as uow:
        lease = uow.job_leases.by_name("scan")
        assert lease.runs == 2 and lease.failures == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dev_mails_page_lists_caught_mail(services) -> None:
    port = free_port()
    catcher = start_default_catcher("127.0.0.1", port)
    try:
        message = EmailMessage()
        message["From"] = "sceau@test"
        message["To"] = "admin@editeur.test"
        message["Subject"] = "Votre certificat est disponible"
        message["Message-ID"] = "<x1@sceau.test>"
        message.set_content("Bonjour,\n\nPour RETIRER le certificat…")
        with smtplib.SMTP("127.0.0.1", port) as client_smtp:
            client_smtp.send_message(message)
        assert len(catcher.mails()) == 1
        client = AppClient(create_app(services))
        page = client.get("/dev/mails")
        assert page.status_code == 200 and "Votre certificat est disponible" in page.text
        detail = client.get("/dev/mails/1")
        assert "Pour RETIRER le certificat" in detail.text
        assert client.get("/dev/mails/2").status_code == 404
    finally:
        stop_default_catcher()
    services.settings = services.settings.model_copy(update={"environment": "prod"})
    assert AppClient(create_app(services)).get("/dev/mails").status_code == 404
