"""Outbox → SMTP against a real aiosmtpd server: content per event kind, retries, no duplicates."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from sceau.notifications import events as ev
from sceau.notifications.delivery import DeliveryPolicy, deliver_due
from sceau.notifications.mail_catcher import MailCatcher
from sceau.notifications.senders import SmtpConfig, SmtpSender
from sceau.worker import jobs_notifications as jobs

PORTAL = "https://portail.sceau.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def catcher(smtp_port: int):
    with MailCatcher("127.0.0.1", smtp_port) as server:
        yield server


@pytest.fixture
def mail_services(services, smtp_port: int):
    services.settings = services.settings.model_copy(
        update={
            "portal_url": PORTAL,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "mail_from": "IGC sceau <ne-pas-repondre@sceau.test>",
            "smtp_timeout_seconds": 5.0,
        }
    )
    return services


def deliver(services, owner: str = "test-worker"):
    jobs.expand_events_job(services)
    return jobs.deliver_outbox_job(services, owner)


PAYLOAD = {
    "structure": "1750000001",
    "raison_sociale": "PHARMACIE DU CENTRE",
    "finess": "750000001",
    "common_name": "lgc.pharmacie-du-centre.fr",
    "usage": "SSL_CLI",
    "service": "INSI-AUTO",
    "serial": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "not_after": "2029-03-14T10:00:00+00:00",
    "order": "C-2026-000042",
    "retrieval_url": "/commandes/C-2026-000042",
}

CASES = [
    (
        ev.HABILITATION_GRANTED,
        "Habilitation accordée",
        ["administrateur technique", "DEMANDER"],
        "/",
    ),
    (ev.HABILITATION_REJECTED, "Habilitation refusée", ["a été refusée", "formulaire 503"], None),
    (ev.HABILITATION_WITHDRAWN, "Fin de votre habilitation", ["a pris fin"], None),
    (
        ev.ORDER_RECEIVED,
        "Confirmation de votre demande de certificat n° C-2026-000042",
        ["bien été enregistrée", "Service applicatif : INSI-AUTO"],
        "/commandes/C-2026-000042",
    ),
    (
        ev.CERTIFICATE_AVAILABLE,
        "Votre certificat lgc.pharmacie-du-centre.fr est disponible",
        ["Pour RETIRER le certificat", "authentification client (SSL_CLI)"],
        "/commandes/C-2026-000042",
    ),
    (
        ev.CERTIFICATE_RETRIEVED,
        "Confirmation du retrait du certificat lgc.pharmacie-du-centre.fr",
        ["a été retiré", "RÉVOQUEZ"],
        None,
    ),
    (
        ev.CERTIFICATE_REVOKED,
        "Révocation du certificat lgc.pharmacie-du-centre.fr",
        ["a été révoqué", "Motif : cessation d'activité"],
        None,
    ),
    (
        ev.CERTIFICATE_RENEWED,
        "Renouvellement du certificat lgc.pharmacie-du-centre.fr",
        ["a été renouvelé", "Il remplace le certificat n° 00ff"],
        "/commandes/C-2026-000042",
    ),
]


@pytest.mark.parametrize(("kind", "subject", "phrases", "link"), CASES)
def test_each_event_is_mailed_in_french_to_actor_and_cc(
    mail_services, catcher, clock, kind, subject, phrases, link
) -> None:
    payload = {
        **PAYLOAD,
        "reason": "cessation d'activité",
        "replaces_serial": "00ff",
        "actor_email": "admin.tech@editeur.test",
        "cc_email": "titulaire@pharmacie.test",
    }
    with mail_services.unit_of_work() as uow:
        ev.record_event(uow, kind, at=clock.now(), recipients=[], payload=payload)
        uow.commit()
    report = deliver(mail_services)
    assert report.sent == 1
    [mail] = catcher.mails()
    message = mail.message
    assert set(mail.rcpt_tos) == {"admin.tech@editeur.test", "titulaire@pharmacie.test"}
    assert message["To"] == "admin.tech@editeur.test"
    assert message["Cc"] == "titulaire@pharmacie.test"
    assert message["From"] == "IGC sceau <ne-pas-repondre@sceau.test>"
    assert subject in mail.subject
    text, html = mail.text(), mail.html()
    assert text.startswith("Bonjour,")
    for phrase in phrases:
        assert phrase in text, phrase
    assert "DEMANDER, RETIRER, SUIVRE ou RÉVOQUER" in text
    assert "PHARMACIE DU CENTRE" in text
    assert f"{PORTAL}/" in text and f'href="{PORTAL}/' in html
    if link:
        assert f"{PORTAL}{link}" in text
        assert f'href="{PORTAL}{link}"' in html
    assert '<html lang="fr">' in html
    with mail_services.unit_of_work() as uow:
        [row] = uow.outbox.list()
        assert row.status == "sent" and row.message_id == mail.message_id


def test_registry_style_event_and_rolled_back_change(mail_services, catcher, clock) -> None:
    """An event written by a use case with ``uow.events.record`` is mailed; one whose
    transaction rolled back never is; an event without a template or recipient is skipped."""
    with mail_services.unit_of_work() as uow:
        uow.events.record(
            at=clock.now(),
            kind=ev.HABILITATION_GRANTED,
            subject="1750000001",
            recipient="pharmacien@officine.test",
            payload={"structure": "1750000001", "raison_sociale": "PHARMACIE DU CENTRE"},
        )
        uow.events.record(at=clock.now(), kind="habilitation.requested", payload={"request": 1})
        uow.commit()
    with mail_services.unit_of_work() as uow:
        ev.record_event(
            uow, ev.CERTIFICATE_AVAILABLE, at=clock.now(), recipients=["x@y.test"], payload=PAYLOAD
        )
        uow.rollback()
    assert deliver(mail_services).sent == 1
    assert deliver(mail_services).claimed == 0
    [mail] = catcher.mails()
    assert mail.rcpt_tos == ("pharmacien@officine.test",)
    with mail_services.unit_of_work() as uow:
        assert uow.events.pending() == []


def test_smtp_down_then_back_delivers_everything_once(mail_services, smtp_port, clock) -> None:
    count = 12
    with mail_services.unit_of_work() as uow:
        for number in range(count):
            ev.record_event(
                uow,
                ev.CERTIFICATE_AVAILABLE,
                at=clock.now(),
                recipients=[f"admin{number}@editeur.test"],
                payload={**PAYLOAD, "order": str(number)},
            )
        uow.commit()
    mail_services.settings = mail_services.settings.model_copy(
        update={"outbox_batch_size": 5, "outbox_backoff_seconds": 60}
    )
    first = deliver(mail_services)  # nobody listens on the port
    assert first.sent == 0 and first.retried == 5 and first.errors
    second = deliver(mail_services)  # the rest is tried too, then all wait for the backoff
    assert second.sent == 0 and second.retried == 5
    deliver(mail_services)
    with mail_services.unit_of_work() as uow:
        assert uow.outbox.counts_by_status() == {"pending": count}
        assert all(row.attempts == 1 and row.last_error for row in uow.outbox.list())
    assert deliver(mail_services).claimed == 0  # not due yet
    clock.advance(dt.timedelta(seconds=59))
    assert deliver(mail_services).claimed == 0
    with MailCatcher("127.0.0.1", smtp_port) as catcher:
        clock.advance(dt.timedelta(seconds=2))
        report = deliver(mail_services)
        assert report.sent == count
        clock.advance(dt.timedelta(days=1))
        assert deliver(mail_services).claimed == 0
        mails = catcher.mails()
    assert len(mails) == count
    assert len({mail.message_id for mail in mails}) == count
    assert sorted(m.rcpt_tos[0] for m in mails) == sorted(
        f"admin{n}@editeur.test" for n in range(count)
    )
    with mail_services.unit_of_work() as uow:
        assert uow.outbox.counts_by_status() == {"sent": count}
        assert {row.attempts for row in uow.outbox.list()} == {2}


def test_backoff_grows_then_fails_for_good(mail_services, clock) -> None:
    mail_services.settings = mail_services.settings.model_copy(
        update={"outbox_max_attempts": 3, "outbox_backoff_seconds": 10}
    )
    with mail_services.unit_of_work() as uow:
        ev.record_event(uow, ev.HABILITATION_GRANTED, at=clock.now(), recipients=["a@b.test"])
        uow.commit()
    waits = []
    for _ in range(3):
        deliver(mail_services)
        with mail_services.unit_of_work() as uow:
            [row] = uow.outbox.list()
        if row.status == "pending":
            waits.append((row.next_attempt_at - clock.now()).total_seconds())
            clock.advance(row.next_attempt_at - clock.now())
    assert waits == [10, 20]
    assert row.status == "failed" and "3 tentatives" in row.last_error


def test_worker_dying_after_hand_over_never_resends(mail_services, catcher, clock) -> None:
    """A message left ``sending`` by a dead worker becomes ``unknown``, never resent
    automatically; one left ``claimed`` (not handed over) goes back to the queue."""
    with mail_services.unit_of_work() as uow:
        for address in ("handed@over.test", "only@claimed.test"):
            ev.record_event(uow, ev.CERTIFICATE_REVOKED, at=clock.now(), recipients=[address])
        uow.commit()
    jobs.expand_events_job(mail_services)
    lease = clock.now() + dt.timedelta(minutes=5)
    with mail_services.unit_of_work() as uow:
        rows = uow.outbox.claim(now=clock.now(), owner="dead", lease_until=lease, limit=10)
        handed = next(r for r in rows if r.recipients == ["handed@over.test"])
        assert uow.outbox.mark_sending(handed.id, "dead", lease)
        uow.commit()
    assert deliver(mail_services).claimed == 0  # leases still held
    clock.advance(dt.timedelta(minutes=6))
    report = deliver(mail_services)
    assert report.unknown == 1 and report.sent == 1
    assert [m.rcpt_tos for m in catcher.mails()] == [("only@claimed.test",)]
    with mail_services.unit_of_work() as uow:
        counts = uow.outbox.counts_by_status()
        assert counts == {"sent": 1, "unknown": 1}
        assert uow.outbox.requeue(handed.id, clock.now())  # the operator decides
        uow.commit()
    deliver(mail_services)
    resent = catcher.mails()[-1]
    assert resent.rcpt_tos == ("handed@over.test",)
    assert resent.message_id == handed.message_id  # same Message-ID as the lost attempt


def test_permanent_refusal_fails_without_retry(mail_services, smtp_port, clock) -> None:
    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, options):
            return "550 5.1.1 no such user"

    from aiosmtpd.controller import Controller

    controller = Controller(Refusing(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with mail_services.unit_of_work() as uow:
            ev.record_event(uow, ev.ORDER_RECEIVED, at=clock.now(), recipients=["x@nowhere.test"])
            uow.commit()
        report = deliver(mail_services)
    finally:
        controller.stop()
    assert report.failed == 1 and report.retried == 0
    with mail_services.unit_of_work() as uow:
        [row] = uow.outbox.list()
        assert row.status == "failed" and "550" in row.last_error


def test_deliver_due_with_starttls_config_reports_unreachable(mail_services, clock) -> None:
    sender = SmtpSender(
        SmtpConfig(host="127.0.0.1", port=free_port(), security="starttls", timeout=2)
    )
    with mail_services.unit_of_work() as uow:
        ev.record_event(uow, ev.ORDER_RECEIVED, at=clock.now(), recipients=["x@y.test"])
        uow.commit()
    jobs.expand_events_job(mail_services)
    report = deliver_due(
        mail_services.unit_of_work, sender, clock.now, owner="w", policy=DeliveryPolicy()
    )
    assert report.retried == 1 and "injoignable" in report.errors[0]
