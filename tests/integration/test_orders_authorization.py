"""An administrator cannot see, retrieve, renew, revoke or cancel anything of a structure they
are not habilitated for — by any path; a legal representative only reads and revokes."""

from __future__ import annotations

import pytest
from orders_world import (
    ADMIN_A,
    ADMIN_B,
    CODE,
    EMAIL,
    LEGAL,
    P1,
    P2,
    build_world,
    order_online,
    retrieve,
)

from conftest import make_csr
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.use_cases.renew_certificate import (
    RenewCommand,
    confirm_installation,
    renew_certificate,
    renewable_certificates,
)
from sceau.registration.use_cases.request_certificates import cancel_order
from sceau.registration.use_cases.retrieve_certificate import download_certificate
from sceau.registration.use_cases.revoke_product import RevokeProductCommand, revoke_product
from sceau.registration.use_cases.track_certificates import (
    TrackQuery,
    dashboard,
    show_order,
    show_product,
    track_products,
)


def forbidden(call):
    with pytest.raises(SceauError) as caught:
        call()
    assert caught.value.kind is ErrorKind.FORBIDDEN, caught.value
    return caught.value


def test_no_path_into_a_structure_without_habilitation(services, leaf_keys):
    world = build_world(services, leaf_keys)
    alice, bruno, legal = world.actor(ADMIN_A), world.actor(ADMIN_B), world.actor(LEGAL)
    p1 = order_online(services, alice, bundle="DMP")
    waiting, retrieved = p1.products
    retrieve(services, alice, retrieved.serial)
    p2 = order_online(services, bruno, structure=P2, usage="SIGN")

    # Bruno administers P2 only.
    calls = {
        "request": lambda: order_online(services, bruno, structure=P1, usage="SIGN"),
        "show order": lambda: show_order(services, p1.id, bruno),
        "show product": lambda: show_product(services, waiting.serial, bruno),
        "list structure": lambda: track_products(services, TrackQuery(structure=P1), bruno),
        "dashboard": lambda: dashboard(services, bruno, P1),
        "retrieve": lambda: retrieve(services, bruno, waiting.serial),
        "download": lambda: download_certificate(services, retrieved.serial, bruno),
        "renew": lambda: renew_certificate(
            services, RenewCommand(retrieved.serial, EMAIL, bruno, csr=make_csr(leaf_keys[5]))
        ),
        "renewable": lambda: renewable_certificates(services, P1, bruno),
        "confirm": lambda: confirm_installation(services, retrieved.serial, bruno),
        "revoke": lambda: revoke_product(
            services, RevokeProductCommand(retrieved.serial, "unspecified", bruno)
        ),
        "cancel": lambda: cancel_order(services, p1.id, bruno),
    }
    for name, call in calls.items():
        error = forbidden(call)
        assert "person:" in error.message, name
    # Unknown things give the same answer as forbidden ones: nothing is revealed.
    assert forbidden(lambda: show_product(services, "00" * 16, bruno)).code == "forbidden"
    assert forbidden(lambda: show_order(services, 999999, bruno)).code == "forbidden"
    # Lists across "all my structures" hold only Bruno's.
    mine = track_products(services, TrackQuery(), bruno).items
    assert {p.structure_idnst for p in mine} == {"1010000016"} and len(mine) == 1
    assert sum(dashboard(services, bruno).by_state.values()) == 1
    search = track_products(services, TrackQuery(text="VOLLENWEIDER"), bruno).items
    assert search == ()
    # Every refusal is in the audit trail.
    with services.unit_of_work() as uow:
        refused = [
            a
            for a in uow.audit.list(limit=500)
            if a.outcome == "refused" and a.actor == bruno.label
        ]
        assert len(refused) >= len(calls) + 2

    # The legal representative of P1 reads and revokes, but does not request or retrieve.
    assert show_product(services, waiting.serial, legal).serial == waiting.serial
    forbidden(lambda: order_online(services, legal, usage="SIGN"))
    forbidden(lambda: retrieve(services, legal, waiting.serial))
    forbidden(
        lambda: renew_certificate(
            services, RenewCommand(retrieved.serial, EMAIL, legal, csr=make_csr(leaf_keys[5]))
        )
    )
    forbidden(lambda: show_product(services, p2.products[0].serial, legal))
    assert revoke_product(
        services, RevokeProductCommand(retrieved.serial, "affiliationChanged", legal)
    ).serial
    # The operator sees everything.
    assert len(track_products(services, TrackQuery(), "operator").items) == 3
    # A withdrawn habilitation takes effect at once.
    with services.unit_of_work() as uow:
        for habilitation in uow.habilitations.active_for_structure(world.structure_ids[P1]):
            uow.habilitations.revoke(
                habilitation, at=services.clock.now(), by="operator", reason="test"
            )
        uow.commit()
    forbidden(lambda: retrieve(services, alice, waiting.serial, code=CODE))
