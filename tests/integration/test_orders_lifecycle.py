"""Renewal, revocation (login, code, legal representative), wrong PKCS#12 passwords."""

from __future__ import annotations

import datetime as dt

import pytest
from orders_world import (
    ADMIN_A,
    CODE,
    EMAIL,
    LEGAL,
    PASSWORD,
    build_world,
    new_key,
    order_online,
    retrieve,
)

from conftest import make_csr
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.orders.revocation_codes import ThrottlePolicy
from sceau.registration.orders.states import ProductState
from sceau.registration.use_cases.renew_certificate import (
    RenewalPolicy,
    RenewCommand,
    confirm_installation,
    renew_certificate,
)
from sceau.registration.use_cases.revoke_product import (
    RevokeProductCommand,
    revoke_product,
    revoke_with_code,
)
from sceau.registration.use_cases.track_certificates import show_product


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def audit_rows(services, action):
    with services.unit_of_work() as uow:
        return [
            (a.outcome, a.target, a.source, a.details)
            for a in uow.audit.list(action=action, limit=500)
        ]


def test_renewal_new_key_linked_old_valid_until_confirmed(services, world, clock):
    admin = world.actor(ADMIN_A)
    old_key = new_key()
    old = order_online(services, admin, usage="AUTH_CLI", cn="INSI-MANU", insi=True).products[0]
    from sceau.pki.pkcs12 import load_pkcs12

    files = retrieve(services, admin, old.serial)
    old_private, _, _ = load_pkcs12(files.by_extension(".p12").content, PASSWORD.encode())
    # The old public key, and any key already certified, is refused.
    with pytest.raises(SceauError) as caught:
        renew_certificate(
            services, RenewCommand(old.serial, EMAIL, admin, csr=make_csr(old_private))
        )
    assert caught.value.code == "renewal_same_key"
    other = order_online(services, admin, usage="SIGN").products[0]
    with pytest.raises(SceauError) as caught:
        renew_certificate(
            services,
            RenewCommand(old.serial, EMAIL, admin, csr=_csr_of_serial(services, other.serial)),
        )
    assert caught.value.code == "renewal_key_reused"

    clock.advance(dt.timedelta(days=3 * 365 - 20))  # 20 days before expiry
    renewal = renew_certificate(
        services, RenewCommand(old.serial, EMAIL, admin, csr=make_csr(old_key))
    )
    new = renewal.products[0]
    assert renewal.kind == "renewal" and new.renewal_of_id is not None
    assert (new.usage, new.service_applicatif, new.insi) == ("AUTH_CLI", "INSI-MANU", True)
    with services.unit_of_work() as uow:
        new_row = uow.certificates.by_serial(new.serial)
        old_row = uow.certificates.by_serial(old.serial)
        assert new_row.replaces_id == old_row.id == new.renewal_of_id
        assert new_row.subject == old_row.subject
        assert any(
            e.kind == "certificate.renewed" and e.payload["replaces_serial"] == old.serial
            for e in uow.events.list(limit=50)
        )
    with pytest.raises(SceauError, match="déjà renouvelé"):
        renew_certificate(services, RenewCommand(old.serial, EMAIL, admin, csr=make_csr(new_key())))
    # Not installed before it is retrieved: the old one stays valid.
    with pytest.raises(SceauError) as caught:
        confirm_installation(services, new.serial, admin)
    assert caught.value.kind is ErrorKind.CONFLICT
    assert show_product(services, old.serial, admin).state is ProductState.RETRIEVED
    retrieve(services, admin, new.serial, password=None)
    outcome = confirm_installation(services, new.serial, admin)
    assert outcome.serial == old.serial and outcome.reason == "superseded"
    assert show_product(services, old.serial, admin).state is ProductState.REVOKED
    assert show_product(services, new.serial, admin).installation_confirmed_at is not None


def _csr_of_serial(services, serial):
    """A CSR carrying the public key of an existing certificate (its key came from a PKCS#12)."""
    from sceau.pki.pkcs12 import load_pkcs12

    with services.unit_of_work() as uow:
        row = uow.certificates.by_serial(serial)
        blob = uow.orders.product_by_certificate(row.id).pkcs12_blob
    if blob is None:
        raise AssertionError("retrieve after this call")
    key, _, _ = load_pkcs12(blob, PASSWORD.encode())
    return make_csr(key)


def test_renewal_refused_for_expired_and_revoked(services, world, clock):
    admin = world.actor(ADMIN_A)
    first, second = order_online(services, admin, bundle="DMP").products
    revoke_product(services, RevokeProductCommand(second.serial, "keyCompromise", admin))
    with pytest.raises(SceauError) as caught:
        renew_certificate(
            services, RenewCommand(second.serial, EMAIL, admin, csr=make_csr(new_key()))
        )
    assert caught.value.code == "renewal_revoked" and "nouvelle demande" in caught.value.message
    clock.advance(dt.timedelta(days=3 * 365 + 2))
    with pytest.raises(SceauError) as caught:
        renew_certificate(
            services, RenewCommand(first.serial, EMAIL, admin, csr=make_csr(new_key()))
        )
    assert caught.value.code == "renewal_expired"
    assert show_product(services, first.serial, admin).state is ProductState.EXPIRED
    # A configured grace lets it through shortly after expiry.
    order = renew_certificate(
        services,
        RenewCommand(first.serial, EMAIL, admin, csr=make_csr(new_key())),
        RenewalPolicy(dt.timedelta(days=7)),
    )
    assert order.products[0].state is ProductState.ISSUED


def test_revocation_by_code_and_throttling(services, world):
    admin = world.actor(ADMIN_A)
    one, two = order_online(services, admin, bundle="DMP").products
    for product in (one, two):
        retrieve(services, admin, product.serial)
    policy = ThrottlePolicy(per_certificate=3, per_source=5)
    for _ in range(3):
        with pytest.raises(SceauError) as caught:
            revoke_with_code(
                services, one.serial, "Wrong-Code-1", source="198.51.100.7", policy=policy
            )
        assert (
            caught.value.code == "revocation_code_wrong"
            and caught.value.kind is ErrorKind.FORBIDDEN
        )
    # Locked: even the right code is refused for this certificate now.
    with pytest.raises(SceauError) as caught:
        revoke_with_code(services, one.serial, CODE, source="203.0.113.9", policy=policy)
    assert caught.value.kind is ErrorKind.RATE_LIMITED
    # Per source: an unknown serial counts as a wrong code; two more wrong tries lock the source.
    for serial in ("00ff", two.serial):
        with pytest.raises(SceauError, match="incorrect"):
            revoke_with_code(services, serial, "Wrong-Code-2", source="198.51.100.7", policy=policy)
    with pytest.raises(SceauError) as caught:
        revoke_with_code(services, two.serial, CODE, source="198.51.100.7", policy=policy)
    assert caught.value.kind is ErrorKind.RATE_LIMITED
    # Another source with the right code revokes.
    outcome = revoke_with_code(
        services, two.serial, CODE, "keyCompromise", source="192.0.2.1", policy=policy
    )
    assert outcome.reason == "keyCompromise"
    assert show_product(services, two.serial, admin).state is ProductState.REVOKED
    attempts = audit_rows(services, "revocation_code.attempt")
    outcomes = [a[0] for a in attempts]
    assert outcomes.count("refused") == 7 and outcomes.count("success") == 1  # every try audited
    assert {a[2] for a in attempts} == {"198.51.100.7", "203.0.113.9", "192.0.2.1"}
    with pytest.raises(SceauError) as caught:  # final
        revoke_product(services, RevokeProductCommand(two.serial, "unspecified", admin))
    assert caught.value.code == "already_revoked"
    # After the window the certificate may be revoked with its code again.
    services.clock.advance(dt.timedelta(hours=1, seconds=1))
    assert (
        revoke_with_code(services, one.serial, CODE, source="192.0.2.1", policy=policy).serial
        == one.serial
    )


def test_legal_representative_and_operator_revoke(services, world):
    admin = world.actor(ADMIN_A)
    one, two = order_online(services, admin, bundle="DMP").products
    legal = world.actor(LEGAL)
    done = revoke_product(services, RevokeProductCommand(one.serial, "affiliationChanged", legal))
    assert done.reason == "affiliationChanged" and done.authority_slug
    revoke_product(services, RevokeProductCommand(two.serial, "cessationOfOperation", "operator"))
    with services.unit_of_work() as uow:
        kinds = [e.kind for e in uow.events.list(kind="certificate.revoked")]
        assert len(kinds) == 2
        product = uow.orders.product_by_id(two.id)
        assert product.state == "revoked" and product.pkcs12_blob is None  # waiting key destroyed


def test_wrong_pkcs12_password_cannot_be_recovered(services, world):
    admin = world.actor(ADMIN_A)
    product = order_online(services, admin, usage="AUTH_CLI", cn="INSI-AUTO").products[0]
    for _ in range(2):
        with pytest.raises(SceauError) as caught:
            retrieve(services, admin, product.serial, password="Pas-Le-Bon-1")
        assert caught.value.code == "pkcs12_wrong_password"
        assert "nouvelle demande est nécessaire" in caught.value.message
    # The operator has no way around it either: the key exists only under that password.
    with pytest.raises(SceauError, match="nouvelle demande"):
        retrieve(services, "operator", product.serial, password="")
    assert [a[0] for a in audit_rows(services, "pkcs12_password.attempt")] == ["refused"] * 3
    with services.unit_of_work() as uow:
        row = uow.orders.product_by_id(product.id)
        assert row.state == "issued" and row.revocation_code_hash is None
    for _ in range(2):
        with pytest.raises(SceauError):
            retrieve(services, admin, product.serial, password="Pas-Le-Bon-2")
    with pytest.raises(SceauError) as caught:  # five wrong: locked, even with the right one
        retrieve(services, admin, product.serial)
    assert caught.value.kind is ErrorKind.RATE_LIMITED
    # A new request is the way out: cancel this one (its certificate is revoked), ask again.
    from sceau.registration.use_cases.request_certificates import cancel_order

    cancel_order(services, product.order_id, admin)
    again = order_online(services, admin, usage="AUTH_CLI", cn="INSI-AUTO").products[0]
    assert retrieve(services, admin, again.serial).by_extension(".p12").content


def test_retrieval_rules(services, world):
    admin = world.actor(ADMIN_A)
    product = order_online(services, admin, usage="SIGN").products[0]
    from sceau.registration.use_cases.retrieve_certificate import (
        RetrieveCommand,
        retrieve_certificate,
    )

    def attempt(**fields):
        base = {
            "serial": product.serial,
            "revocation_code": CODE,
            "revocation_code_confirmation": CODE,
            "accept_terms": True,
            "pkcs12_password": PASSWORD,
            "actor": admin,
        }
        base.update(fields)
        with pytest.raises(SceauError) as caught:
            retrieve_certificate(services, RetrieveCommand(**base))
        return caught.value.code

    assert attempt(revocation_code_confirmation=CODE + "x") == "revocation_code_mismatch"
    assert (
        attempt(revocation_code="court1", revocation_code_confirmation="court1") == "secret_length"
    )
    assert (
        attempt(revocation_code="aaaaaaaaaa", revocation_code_confirmation="aaaaaaaaaa")
        == "secret_weak"
    )
    assert attempt(accept_terms=False) == "terms_not_accepted"
    assert attempt(cgu_version="CGU-0.9") == "terms_outdated"
    assert attempt(pkcs12_layout="rc2") == "pkcs12_layout"
    assert show_product(services, product.serial, admin).state is ProductState.ISSUED
