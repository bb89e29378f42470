"""Expiry reminders with an injected clock: each offset once, never after renewal or
revocation, and one digest for an administrator of many structures."""

from __future__ import annotations

import datetime as dt

import pytest
from notification_factories import (
    add_administrator,
    add_certificates,
    add_structures,
    certificate_row,
    organisations_authority_id,
)
from sqlalchemy import update

from sceau.notifications.expiry import ExpiryPolicy, digest_send_time
from sceau.notifications.senders import MemorySender
from sceau.storage.tables import Certificate
from sceau.worker import jobs_notifications as jobs

DAY = dt.timedelta(days=1)


@pytest.fixture
def sender() -> MemorySender:
    return MemorySender()


def scan_and_deliver(services, sender: MemorySender):
    report = jobs.expiry_scan_job(services)
    jobs.deliver_outbox_job(services, "test", sender)
    return report


def subjects(sender: MemorySender) -> list[str]:
    return [str(m["Subject"]) for m in sender.messages]


def test_each_offset_fires_exactly_once(services, clock, sender) -> None:
    now = clock.now()
    with services.unit_of_work() as uow:
        [structure] = add_structures(uow, 1, now=now)
        add_administrator(uow, [structure], email="admin@editeur.test", now=now)
        add_administrator(uow, [structure], email="pharmacien@officine.test", now=now)
        authority = organisations_authority_id(uow)
        add_certificates(uow, [certificate_row(authority, structure, now + 75 * DAY)])
        uow.commit()
    fired: list[tuple[int, list[str]]] = []
    for day in range(0, 90):
        scan_and_deliver(services, sender)
        if sender.messages:
            fired += [(day, sorted(str(m["To"]).split(", "))) for m in sender.messages]
            sender.messages.clear()
        clock.advance(DAY)
    # offsets 60, 30, 7 and 0 days before the expiry (75 days after the start)
    assert [day for day, _ in fired] == [15, 45, 68, 75]
    assert all(to == ["admin@editeur.test", "pharmacien@officine.test"] for _, to in fired)


def test_reminder_content_in_french(services, clock, sender) -> None:
    now = clock.now()
    with services.unit_of_work() as uow:
        [structure] = add_structures(uow, 1, now=now)
        add_administrator(uow, [structure], email="admin@editeur.test", now=now)
        row = certificate_row(organisations_authority_id(uow), structure, now + 30 * DAY)
        add_certificates(uow, [row])
        uow.commit()
    scan_and_deliver(services, sender)
    [message] = sender.messages
    assert str(message["Subject"]).startswith("Expiration dans 30 jours : certificat srv-")
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "expire dans 30 jours" in text
    assert "PHARMACIE NUMERO 0" in text and "FINESS 750000000" in text
    assert row["serial"] in text
    assert "renouveler le certificat avant sa date d'expiration" in text
    assert services.settings.effective_portal_url + "/" in text


def test_late_scan_sends_only_the_tightest_offset(services, clock, sender) -> None:
    now = clock.now()
    with services.unit_of_work() as uow:
        [structure] = add_structures(uow, 1, now=now)
        add_administrator(uow, [structure], email="a@b.test", now=now)
        add_certificates(
            uow, [certificate_row(organisations_authority_id(uow), structure, now + 5 * DAY)]
        )
        uow.commit()
    report = scan_and_deliver(services, sender)
    assert report.by_offset == {7: 1}
    assert len(sender.messages) == 1
    scan_and_deliver(services, sender)
    assert len(sender.messages) == 1


def test_no_reminder_after_renewal_or_revocation(services, clock, sender) -> None:
    now = clock.now()
    with services.unit_of_work() as uow:
        [structure] = add_structures(uow, 1, now=now)
        add_administrator(uow, [structure], email="a@b.test", now=now)
        authority = organisations_authority_id(uow)
        ids = add_certificates(
            uow,
            [
                certificate_row(authority, structure, now + 40 * DAY, serial="aa" * 16),
                certificate_row(authority, structure, now + 40 * DAY, serial="bb" * 16),
                certificate_row(authority, structure, now + 40 * DAY, serial="cc" * 16),
            ],
        )
        uow.commit()
    clock.advance(15 * DAY)  # 25 days left: the 30-day reminder of all three is due…
    with services.unit_of_work() as uow:
        # …but "aa" was renewed (an issued certificate replaces it) and "bb" revoked
        add_certificates(
            uow,
            [
                certificate_row(
                    authority, structure, clock.now() + 1095 * DAY, replaces_id=ids["aa" * 16]
                )
            ],
        )
        uow.session.execute(
            update(Certificate)
            .where(Certificate.id == ids["bb" * 16])
            .values(revoked_at=clock.now(), revocation_reason="keyCompromise")
        )
        uow.commit()
    for _ in range(30):
        scan_and_deliver(services, sender)
        clock.advance(DAY)
    serials = [str(m["Subject"]) for m in sender.messages]
    assert len(serials) == 3  # 30, 7 and 0 days, all for "cc"
    texts = [m.get_body(preferencelist=("plain",)).get_content() for m in sender.messages]
    assert all("cc" * 16 in text for text in texts)


def test_prepared_replacement_does_not_count_as_renewal(services, clock, sender) -> None:
    now = clock.now()
    with services.unit_of_work() as uow:
        [structure] = add_structures(uow, 1, now=now)
        add_administrator(uow, [structure], email="a@b.test", now=now)
        authority = organisations_authority_id(uow)
        ids = add_certificates(uow, [certificate_row(authority, structure, now + 20 * DAY)])
        [old] = ids.values()
        add_certificates(
            uow,
            [
                certificate_row(
                    authority, structure, now + 999 * DAY, status="prepared", replaces_id=old
                )
            ],
        )
        uow.commit()
    assert scan_and_deliver(services, sender).reminders == 1


def test_administrator_of_500_structures_gets_one_digest(services, clock, sender) -> None:
    now = clock.now()
    with services.unit_of_work() as uow:
        structures = add_structures(uow, 500, now=now)
        add_administrator(uow, structures, email="vendor@editeur.test", now=now)
        # a pharmacist administers 2 of them: below the threshold, individual reminders
        add_administrator(uow, structures[:2], email="pharmacien@officine.test", now=now)
        authority = organisations_authority_id(uow)
        add_certificates(
            uow,
            [
                certificate_row(authority, structure, now + (20 + n % 9) * DAY)
                for n, structure in enumerate(structures)
            ],
        )
        uow.commit()
    report = scan_and_deliver(services, sender)
    assert report.due == 500 and report.digests_opened == 1 and report.digest_items == 500
    individual = [m for m in sender.messages if "vendor@" not in str(m["To"])]
    assert len(individual) == 2  # the pharmacist's two, sent now
    assert not [m for m in sender.messages if "vendor@" in str(m["To"])]  # digest waits
    send_at = digest_send_time(clock.now(), ExpiryPolicy())
    clock.advance(send_at - clock.now())
    scan_and_deliver(services, sender)
    digests = [m for m in sender.messages if "vendor@" in str(m["To"])]
    assert len(digests) == 1
    [digest] = digests
    assert str(digest["Subject"]) == "Récapitulatif : 500 certificats à renouveler"
    text = digest.get_body(preferencelist=("plain",)).get_content()
    assert text.count("IDNST 1") == 500
    assert "PHARMACIE NUMERO 499" in text
    with services.unit_of_work() as uow:
        assert uow.expiry.count() == 500


def test_items_found_later_join_the_open_digest(services, clock, sender) -> None:
    services.settings = services.settings.model_copy(
        update={"digest_threshold": 3, "digest_frequency": "weekly"}
    )
    now = clock.now()
    with services.unit_of_work() as uow:
        structures = add_structures(uow, 6, now=now)
        add_administrator(uow, structures, email="vendor@editeur.test", now=now)
        authority = organisations_authority_id(uow)
        add_certificates(
            uow, [certificate_row(authority, s, now + 30 * DAY) for s in structures[:4]]
        )
        uow.commit()
    scan_and_deliver(services, sender)
    clock.advance(dt.timedelta(hours=1))
    with services.unit_of_work() as uow:
        add_certificates(
            uow, [certificate_row(authority, s, clock.now() + 29 * DAY) for s in structures[4:]]
        )
        uow.commit()
    scan_and_deliver(services, sender)
    assert sender.messages == []
    policy = ExpiryPolicy(digest_frequency="weekly")
    clock.advance(digest_send_time(clock.now(), policy) - clock.now())
    jobs.deliver_outbox_job(services, "test", sender)
    [digest] = sender.messages
    assert str(digest["Subject"]) == "Récapitulatif : 6 certificats à renouveler"
