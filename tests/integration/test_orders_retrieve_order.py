"""RETIRER a whole order at once (the fleet's path): one code hashed once, or a code the
platform draws; all or none; every certificate audited; rights as for one certificate."""

from __future__ import annotations

import pytest
from orders_world import (
    ADMIN_A,
    ADMIN_B,
    CODE,
    EMAIL,
    P1,
    PASSWORD,
    build_world,
    order_online,
    retrieve,
)

from conftest import make_csr
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.orders import revocation_codes
from sceau.registration.orders.states import ProductState
from sceau.registration.use_cases.request_certificates import RequestCommand, request_certificates
from sceau.registration.use_cases.retrieve_certificate import (
    RetrieveOrderCommand,
    retrieve_order,
)
from sceau.registration.use_cases.revoke_product import revoke_with_code
from sceau.registration.use_cases.track_certificates import show_product


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def order_with_csrs(services, actor, keys, bundle="DMP"):
    return request_certificates(
        services,
        RequestCommand(
            structure=P1,
            service_applicatif="DMP",
            actor_email=EMAIL,
            actor=actor,
            bundle=bundle,
            csrs=tuple(make_csr(k) for k in keys),
        ),
    )


def hashes_of(services, order_id):
    with services.unit_of_work() as uow:
        return [p.revocation_code_hash for p in uow.orders.products_of(order_id)]


def audit_targets(services, action):
    with services.unit_of_work() as uow:
        return [(a.target, a.details) for a in uow.audit.list(action=action, limit=500)]


def test_chosen_code_is_hashed_once_for_the_whole_order(services, world, leaf_keys, monkeypatch):
    admin = world.actor(ADMIN_A)
    order = order_with_csrs(services, admin, leaf_keys[:2])
    calls = []
    real = revocation_codes.hash_secret
    monkeypatch.setattr(revocation_codes, "hash_secret", lambda s: calls.append(s) or real(s))
    done = retrieve_order(
        services,
        RetrieveOrderCommand(
            order_id=order.id,
            revocation_code=CODE,
            revocation_code_confirmation=CODE,
            accept_terms=True,
            actor=admin,
            source="192.0.2.10",
        ),
    )
    assert calls == [CODE]  # one argon2id hash for the two certificates
    assert done.revocation_code is None
    assert [c.serial for c in done.certificates] == [p.serial for p in order.products]
    assert all(p.state is ProductState.RETRIEVED for p in done.products)
    for files in done.certificates:
        assert files.by_extension(".pem").content.startswith(b"-----BEGIN CERTIFICATE-----")
    stored = hashes_of(services, order.id)
    assert len(set(stored)) == 1 and stored[0].startswith("$argon2id$")
    # Each certificate is audited and notified on its own, with the order it came with.
    audited = audit_targets(services, "certificate.retrieve")
    assert sorted(t for t, _ in audited) == sorted(p.serial for p in order.products)
    assert all(d["order"] == order.id and d["code"] == "chosen" for _, d in audited)
    with services.unit_of_work() as uow:
        assert len(uow.events.list(kind="certificate.retrieved")) == 2
    # The code revokes each certificate.
    first = order.products[0].serial
    assert revoke_with_code(services, first, CODE, source="192.0.2.10").serial == first


def test_generated_code_is_returned_once_and_revokes(services, world, leaf_keys):
    admin = world.actor(ADMIN_A)
    order = order_with_csrs(services, admin, leaf_keys[2:4])
    done = retrieve_order(
        services,
        RetrieveOrderCommand(
            order_id=order.id, generate_revocation_code=True, accept_terms=True, actor=admin
        ),
    )
    code = done.revocation_code
    assert code is not None and len(code.replace("-", "")) == 32  # 160 bits in base32
    stored = hashes_of(services, order.id)
    assert len(set(stored)) == 1 and stored[0].startswith("$sceau-hmac-sha256$")
    assert code.replace("-", "") not in stored[0]  # only the keyed hash is kept
    assert all(d["code"] == "generated" for _, d in audit_targets(services, "certificate.retrieve"))
    one, two = (p.serial for p in order.products)
    with pytest.raises(SceauError, match="incorrect"):
        revoke_with_code(services, one, code[:-1] + ("A" if code[-1] != "A" else "B"))
    # Typed back by hand: case, spaces and dashes do not matter.
    typed = code.lower().replace("-", " ")
    assert revoke_with_code(services, one, typed, source="192.0.2.11").serial == one
    assert revoke_with_code(services, two, code, source="192.0.2.11").serial == two
    assert show_product(services, two, admin).state is ProductState.REVOKED


def test_all_or_none_and_the_rules(services, world, leaf_keys):
    admin = world.actor(ADMIN_A)
    order = order_with_csrs(services, admin, leaf_keys[4:6])

    def attempt(**fields):
        base = {"order_id": order.id, "accept_terms": True, "actor": admin}
        base.update(fields)
        with pytest.raises(SceauError) as caught:
            retrieve_order(services, RetrieveOrderCommand(**base))
        return caught.value

    assert attempt(generate_revocation_code=True, accept_terms=False).code == "terms_not_accepted"
    assert attempt(revocation_code=CODE, revocation_code_confirmation="x").code == (
        "revocation_code_mismatch"
    )
    assert attempt().code == "secret_length"  # neither a code nor generation
    both = attempt(
        generate_revocation_code=True, revocation_code=CODE, revocation_code_confirmation=CODE
    )
    assert both.code == "revocation_code_choice"
    assert attempt(actor=world.actor(ADMIN_B), generate_revocation_code=True).kind is (
        ErrorKind.FORBIDDEN
    )
    missing = attempt(order_id=999_999, generate_revocation_code=True)
    assert missing.kind in (ErrorKind.NOT_FOUND, ErrorKind.FORBIDDEN)
    assert all(h is None for h in hashes_of(services, order.id))  # nothing happened
    # One certificate of the order retrieved on its own: the whole-order call retrieves none.
    retrieve(services, admin, order.products[0].serial)
    before = hashes_of(services, order.id)
    refused = attempt(generate_revocation_code=True)
    assert refused.code == "invalid_transition" and refused.kind is ErrorKind.CONFLICT
    assert hashes_of(services, order.id) == before
    assert show_product(services, order.products[1].serial, admin).state is ProductState.ISSUED


def test_online_keys_come_back_as_pkcs12(services, world):
    admin = world.actor(ADMIN_A)
    order = order_online(services, admin, bundle="DMP")
    with pytest.raises(SceauError) as caught:
        retrieve_order(
            services,
            RetrieveOrderCommand(
                order_id=order.id,
                generate_revocation_code=True,
                accept_terms=True,
                pkcs12_password="Pas-Le-Bon-1",
                actor=admin,
            ),
        )
    assert caught.value.code == "pkcs12_wrong_password"
    done = retrieve_order(
        services,
        RetrieveOrderCommand(
            order_id=order.id,
            generate_revocation_code=True,
            accept_terms=True,
            pkcs12_password=PASSWORD,
            pkcs12_layout="aes",
            actor=admin,
        ),
    )
    from sceau.pki.pkcs12 import load_pkcs12

    for files in done.certificates:
        _key, leaf, _ = load_pkcs12(files.by_extension(".p12").content, PASSWORD.encode())
        assert leaf.serial_number == int(files.serial, 16)
    with services.unit_of_work() as uow:
        assert all(p.pkcs12_blob is None for p in uow.orders.products_of(order.id))
