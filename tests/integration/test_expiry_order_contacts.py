"""Expiry reminders reach the contacts given on the order, besides the administrators."""

from __future__ import annotations

import datetime as dt

from orders_world import ADMIN_A, CC, EMAIL, build_world, order_online

from sceau.notifications.senders import MemorySender
from sceau.worker import jobs_notifications as jobs


def test_reminder_goes_to_actor_and_cc_of_the_order(services, clock, leaf_keys):
    world = build_world(services, leaf_keys)
    order = order_online(services, world.actor(ADMIN_A), usage="AUTH_CLI", cn="DMP")
    sender = MemorySender()
    jobs.deliver_outbox_job(services, "test", sender)  # the order's own mails
    sender.messages.clear()
    with services.unit_of_work() as uow:
        (certificate,) = [
            c for c in uow.certificates.list() if c.status == "issued" and c.usage == "AUTH_CLI"
        ]
        not_after = certificate.not_after
    clock.set(not_after - dt.timedelta(days=30))
    jobs.expiry_scan_job(services)
    jobs.deliver_outbox_job(services, "test", sender)
    recipients = set()
    for message in sender.messages:
        for header in ("To", "Cc"):
            if message[header]:
                recipients |= {a.strip() for a in str(message[header]).split(",")}
    assert EMAIL in recipients and CC in recipients, recipients
    assert order is not None
