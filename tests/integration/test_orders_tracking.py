"""SUIVRE: search, filters, dashboard counts, keyset pages; and a page among 100,000."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from orders_world import ADMIN_A, EMAIL, P1, build_world, new_key, order_online, retrieve
from sqlalchemy import insert

from conftest import make_csr
from sceau.registration.use_cases.request_certificates import RequestCommand, request_certificates
from sceau.registration.use_cases.revoke_product import RevokeProductCommand, revoke_product
from sceau.registration.use_cases.track_certificates import TrackQuery, dashboard, track_products
from sceau.storage.tables import Certificate, CertificateOrder, OrderProduct


def test_search_filters_counts_and_pages(services, leaf_keys, clock):
    world = build_world(services, leaf_keys)
    admin = world.actor(ADMIN_A)
    dmp = order_online(services, admin, bundle="DMP", cn="LGO DMP")
    insi = request_certificates(
        services,
        RequestCommand(
            structure=P1,
            service_applicatif="INSI-AUTO",
            actor_email=EMAIL,
            actor=admin,
            bundle="INSI",
            csrs=(make_csr(new_key()),),
        ),
    )
    retrieve(services, admin, dmp.products[0].serial)
    revoke_product(services, RevokeProductCommand(dmp.products[1].serial, "superseded", admin))

    def serials(**query):
        return [p.serial for p in track_products(services, TrackQuery(**query), admin).items]

    everything = serials()
    assert len(everything) == 3
    assert serials(text="INSI-AUTO") == [insi.products[0].serial]
    assert serials(text="insi-auto") == [insi.products[0].serial]  # case-insensitive
    assert len(serials(text="vollenweider")) == 3
    assert len(serials(text="010002301")) == 3  # FINESS
    assert len(serials(text="1010002301")) == 3  # IDNST
    serial = dmp.products[0].serial
    assert serials(text=serial[-10:].upper()) == [serial]
    assert serials(state="retrieved") == [serial]
    assert serials(state="revoked") == [dmp.products[1].serial]
    assert serials(state="en attente de retrait") == [insi.products[0].serial]
    assert serials(structure=P1, expires_within_days=30) == []

    board = dashboard(services, admin)
    assert board.by_state == {"issued": 1, "retrieved": 1, "revoked": 1}
    assert board.expiring == {30: 0, 60: 0, 90: 0}

    clock.advance(dt.timedelta(days=3 * 365 - 45))  # 45 days before expiry
    assert len(serials(expires_within_days=60)) == 2  # revoked ones are not "expiring"
    assert serials(expires_within_days=30) == []
    assert dashboard(services, admin, P1).expiring == {30: 0, 60: 2, 90: 2}
    clock.advance(dt.timedelta(days=46))
    assert dashboard(services, admin).by_state == {"expired": 2, "revoked": 1}
    assert len(serials(state="expired")) == 2

    first = track_products(services, TrackQuery(limit=2), admin)
    assert len(first.items) == 2 and first.next_before_id == first.items[-1].id
    second = track_products(services, TrackQuery(limit=2, before_id=first.next_before_id), admin)
    assert len(second.items) == 1 and second.next_before_id is None
    assert [p.serial for p in (*first.items, *second.items)] == everything


@pytest.mark.slow
def test_a_page_among_100000_certificates(services, leaf_keys):
    """Insert 100,000 certificates and products in bulk, then time page queries (printed)."""
    world = build_world(services, leaf_keys)
    admin = world.actor(ADMIN_A)
    now = services.clock.now()
    structure_id = world.structure_ids[P1]
    with services.unit_of_work() as uow:
        authority_id = uow.authorities.by_role("test", "organisations").id
        order = uow.orders.create_order(
            structure_id=structure_id,
            offer="ORG",
            bundle=None,
            kind="new",
            actor_email=EMAIL,
            cc_email=None,
            requested_by="bulk",
            requested_by_person_id=None,
            created_at=now,
        )
        order_id = order.id
        uow.commit()
    total, batch = 100_000, 10_000
    started = time.perf_counter()
    with services.engine.begin() as connection:
        for offset in range(0, total, batch):
            certificates = [
                {
                    "id": 1_000_000 + i,
                    "serial": f"{i:032x}",
                    "authority_id": authority_id,
                    "structure_id": structure_id,
                    "usage": "AUTH_CLI",
                    "insi": False,
                    "status": "issued",
                    "subject": "CN=bulk",
                    "common_name": f"SERVICE {i}",
                    "key_fingerprint": f"{i:064x}",
                    "tbs_der": b"",
                    "certificate_der": b"",
                    "not_before": now,
                    "not_after": now + dt.timedelta(days=1 + i % 1000),
                    "prepared_at": now,
                    "issued_at": now,
                }
                for i in range(offset, offset + batch)
            ]
            connection.execute(insert(Certificate.__table__), certificates)
            connection.execute(
                insert(OrderProduct.__table__),
                [
                    {
                        "order_id": order_id,
                        "structure_id": structure_id,
                        "usage": "AUTH_CLI",
                        "service_applicatif": c["common_name"],
                        "insi": False,
                        "key_source": "csr",
                        "key_fingerprint": c["key_fingerprint"],
                        "state": "retrieved" if c["id"] % 2 else "issued",
                        "certificate_id": c["id"],
                        "requested_at": now,
                        "state_changed_at": now,
                    }
                    for c in certificates
                ],
            )
    print(f"\ninserted {total} certificates and products in {time.perf_counter() - started:.2f} s")
    with services.engine.begin() as connection:  # what autovacuum / a nightly job does
        connection.exec_driver_sql("ANALYZE")
    assert CertificateOrder  # the order row exists; products reference it

    def timed(label, call):
        start = time.perf_counter()
        result = call()
        print(f"{label}: {(time.perf_counter() - start) * 1000:.1f} ms")
        return result

    page = timed(
        "first page (admin, 50)", lambda: track_products(services, TrackQuery(limit=50), admin)
    )
    assert len(page.items) == 50 and page.next_before_id is not None
    deep = timed(
        "next page (keyset)",
        lambda: track_products(
            services, TrackQuery(limit=50, before_id=page.next_before_id), admin
        ),
    )
    assert deep.items[0].id < page.items[-1].id
    found = timed(
        "search by serial",
        lambda: track_products(services, TrackQuery(text=f"{99_999:032x}"), admin),
    )
    assert len(found.items) == 1
    expiring = timed(
        "expires within 30 days",
        lambda: track_products(services, TrackQuery(expires_within_days=30, limit=50), admin),
    )
    assert len(expiring.items) == 50
    board = timed("dashboard", lambda: dashboard(services, admin))
    assert sum(board.by_state.values()) == total
    assert board.expiring[30] == 100 * 29 + 100 * 1  # days 1..30 inclusive of the 1000-day cycle
