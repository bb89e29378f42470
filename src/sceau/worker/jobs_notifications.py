"""Notification jobs wired to a container: event expansion, outbox delivery, expiry scan."""

from __future__ import annotations

from typing import Any

from sceau.config import Settings
from sceau.notifications.delivery import DeliveryPolicy, DeliveryReport, deliver_due
from sceau.notifications.events import expand_events
from sceau.notifications.expiry import ExpiryPolicy, ScanReport, scan_expiring
from sceau.notifications.renderer import Renderer
from sceau.notifications.senders import Sender, SmtpConfig, SmtpSender


def smtp_config(settings: Settings) -> SmtpConfig:
    """Where mail goes: the configured server, else the embedded catcher."""
    if settings.smtp_host:
        return SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.read_smtp_password(),
            timeout=settings.smtp_timeout_seconds,
        )
    return SmtpConfig(
        host="127.0.0.1", port=settings.mail_catcher_port, timeout=settings.smtp_timeout_seconds
    )


def build_sender(settings: Settings) -> Sender:
    return SmtpSender(smtp_config(settings))


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        max_attempts=settings.outbox_max_attempts,
        backoff_seconds=settings.outbox_backoff_seconds,
        backoff_max_seconds=settings.outbox_backoff_max_seconds,
        lease_seconds=settings.outbox_lease_seconds,
        batch_size=settings.outbox_batch_size,
        reply_to=settings.mail_reply_to,
    )


def expiry_policy(settings: Settings) -> ExpiryPolicy:
    return ExpiryPolicy(
        offsets_days=tuple(settings.expiry_offsets_days),
        grace_days=settings.expiry_grace_days,
        digest_threshold=settings.digest_threshold,
        digest_frequency=settings.digest_frequency,
        digest_hour_utc=settings.digest_hour_utc,
    )


def renderer(settings: Settings) -> Renderer:
    return Renderer(settings.effective_portal_url)


def expand_events_job(container: Any) -> int:
    """Domain events → outbox messages (SKIP LOCKED on events; safe on every worker)."""
    settings = container.settings
    made_total = 0
    while True:
        with container.unit_of_work() as uow:
            before = made_total
            made_total += expand_events(
                uow, renderer(settings), sender=settings.mail_from, now=container.clock.now()
            )
            pending_left = bool(uow.events.pending(limit=1)) if made_total > before else False
            uow.commit()
        if not pending_left:
            return made_total


def deliver_outbox_job(
    container: Any, owner: str, sender: Sender | None = None, *, until_idle: bool = True
) -> DeliveryReport:
    """Deliver due messages, batch after batch while some were claimed."""
    settings = container.settings
    chosen = sender or build_sender(settings)
    total = DeliveryReport()
    while True:
        report = deliver_due(
            container.unit_of_work,
            chosen,
            container.clock.now,
            owner=owner,
            policy=delivery_policy(settings),
        )
        for name in ("claimed", "sent", "retried", "failed", "unknown", "recovered"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.errors += report.errors
        if not until_idle or report.claimed == 0 or report.retried or report.errors:
            return total


def expiry_scan_job(container: Any) -> ScanReport:
    settings = container.settings
    with container.unit_of_work() as uow:
        report = scan_expiring(
            uow,
            renderer(settings),
            sender=settings.mail_from,
            now=container.clock.now(),
            policy=expiry_policy(settings),
        )
        uow.commit()
    return report


def revocation_status_job(container: Any) -> list[str]:
    """CRL regeneration, OCSP pre-signing and interrupted-issuance recovery (CRL module's job)."""
    try:
        from sceau.worker.jobs import refresh_revocation_status
    except ImportError:
        from sceau.registration.use_cases.issue_certificate import resume_pending_issuance

        return [f"émission reprise: {s}" for s in resume_pending_issuance(container)]
    return refresh_revocation_status(container)


def audit_anchor_job(container: Any) -> list[str]:
    """Sign the end of the audit hash chain (``sceau audit verify`` checks these anchors)."""
    from sceau.registration.use_cases.audit import anchor_audit_chain

    anchor = anchor_audit_chain(container)
    return (
        []
        if anchor is None
        else [f"journal d'audit ancré jusqu'à l'événement {anchor.last_event_id}"]
    )
