"""DEMANDER rules: INSi names, bundles, contacts, keys, eligibility; cancellation."""

from __future__ import annotations

import pytest
from orders_world import ADMIN_A, EMAIL, P1, PASSWORD, build_world, new_key, order_online

from conftest import make_csr
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.orders.states import ProductState
from sceau.registration.use_cases.request_certificates import (
    RequestCommand,
    cancel_order,
    request_certificates,
)


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def ask(services, actor, **fields):
    base = {"structure": P1, "service_applicatif": "DMP", "actor_email": EMAIL, "actor": actor}
    base.update(fields)
    return request_certificates(services, RequestCommand(**base))


@pytest.mark.parametrize(
    "cn",
    [
        "insi-auto",
        "INSI AUTO",
        "INSI-AUTO ",
        " INSI-MANU",
        "Insi-Manu",
        "INSI_AUTO",
        "INSI-AUTOMATIQUE",
    ],
)
def test_wrong_insi_names_are_refused_with_the_rule(services, leaf_keys, cn):
    # Refused before anything is looked up or recorded: no registry needed.
    with pytest.raises(SceauError) as caught:
        ask(
            services,
            "operator",
            service_applicatif=cn,
            bundle="INSI",
            csrs=(make_csr(leaf_keys[5]),),
        )
    assert caught.value.code == "insi_common_name"
    assert "INSI-AUTO" in caught.value.message and "INSI-MANU" in caught.value.message
    assert "DESIR_560" in caught.value.message
    with services.unit_of_work() as uow:  # nothing recorded
        assert uow.orders.search(now=services.clock.now()) == []


def test_insi_look_alike_refused_even_without_the_flag(services, leaf_keys):
    with pytest.raises(SceauError) as caught:
        ask(
            services,
            "operator",
            service_applicatif="insi-manu",
            usage="AUTH_CLI",
            csrs=(make_csr(leaf_keys[5]),),
        )
    assert caught.value.code == "insi_common_name" and "INSI-MANU" in caught.value.message


def test_right_insi_names_pass_and_are_flagged(services, world):
    admin = world.actor(ADMIN_A)
    for cn in ("INSI-AUTO", "INSI-MANU"):
        order = ask(
            services, admin, service_applicatif=cn, usage="auth_cli", csrs=(make_csr(new_key()),)
        )
        assert order.products[0].insi and order.products[0].state is ProductState.ISSUED
        assert order.products[0].service_applicatif == cn


def test_contacts_and_key_rules(services, world):
    admin = world.actor(ADMIN_A)
    csr = make_csr(new_key())
    for fields, code in (
        ({"actor_email": ""}, "email_required"),
        ({"actor_email": "pas-une-adresse"}, "email_format"),
        ({"actor_email": "a@b"}, "email_format"),
        ({"cc_email": "copie@@exemple.fr"}, "email_format"),
        ({"usage": None, "bundle": "DMP"}, "csr_count"),
        ({"usage": None, "bundle": "DMP", "csrs": (csr, csr)}, "csr_same_key"),
        ({"csrs": ()}, "key_source"),
        (
            {"usage": "SIGN", "csrs": (csr,), "generate_online": True, "pkcs12_password": PASSWORD},
            "key_source",
        ),
        ({"csrs": (), "generate_online": True}, "pkcs12_password_required"),
        ({"csrs": (), "generate_online": True, "pkcs12_password": "12345678"}, "secret_weak"),
        ({"usage": "SIGN", "bundle": "DMP", "csrs": (csr,)}, "usage_or_bundle"),
        ({"usage": None, "bundle": "TELEMEDECINE"}, "unknown_bundle"),
        ({"usage": "SERV_SSL", "csrs": (csr,)}, "usage_offer"),
        (
            {"usage": "SIGN", "dns_names": ("a.example.fr",), "csrs": (csr,)},
            "dns_names_not_allowed",
        ),
        (
            {"usage": "SIGN", "service_applicatif": "x" * 65, "csrs": (csr,)},
            "service_applicatif_too_long",
        ),
        (
            {"usage": "SIGN", "service_applicatif": "LGO<script>", "csrs": (csr,)},
            "service_applicatif_characters",
        ),
    ):
        with pytest.raises(SceauError) as caught:
            ask(services, admin, **{"usage": "SIGN", "csrs": (csr,), **fields})
        assert caught.value.code == code, (fields, caught.value.code)
    order = ask(services, admin, usage="SIGN", cc_email="copie@editeur.example", csrs=(csr,))
    assert order.cc_email == "copie@editeur.example" and order.actor_email == EMAIL


def test_mssante_operator_bundle_only_for_operators(services, world):
    admin = world.actor(ADMIN_A)
    with pytest.raises(SceauError) as caught:
        ask(
            services,
            admin,
            offer="SERV",
            bundle="MSSANTE_OPERATEUR",
            service_applicatif="mss.pharmacie.example",
            csrs=(make_csr(new_key()),),
        )
    assert caught.value.kind is ErrorKind.FORBIDDEN and "opérateur MSSanté" in caught.value.message
    with services.unit_of_work() as uow:
        uow.structures.by_reference(P1).mssante_operator = True
        uow.commit()
    order = ask(
        services,
        admin,
        offer="SERV",
        bundle="MSSANTE_OPERATEUR",
        service_applicatif="mss.pharmacie.example",
        dns_names=("imap.pharmacie.example",),
        csrs=(make_csr(new_key()),),
    )
    assert [p.usage for p in order.products] == ["SERV_SSL"]
    assert order.products[0].dns_names == ("imap.pharmacie.example",)


def test_single_certificate_bundles(services, world):
    for bundle in ("PSC", "MSSANTE_BAL"):
        order = ask(services, world.actor(ADMIN_A), bundle=bundle, csrs=(make_csr(new_key()),))
        assert [p.usage for p in order.products] == ["AUTH_CLI"] and order.bundle == bundle


def test_cancel_revokes_an_issued_certificate_and_destroys_its_pkcs12(services, world):
    admin = world.actor(ADMIN_A)
    order = order_online(services, admin, usage="SIGN")
    cancelled, slugs = cancel_order(services, order.id, admin)
    assert cancelled.products[0].state is ProductState.CANCELLED
    assert slugs == ["test-organisations"] or len(slugs) == 1
    with services.unit_of_work() as uow:
        product = uow.orders.product_by_id(order.products[0].id)
        certificate = uow.certificates.by_id(product.certificate_id)
        assert product.pkcs12_blob is None
        assert certificate.revocation_reason == "cessationOfOperation"
    with pytest.raises(SceauError) as caught:
        cancel_order(services, order.id, admin)
    assert caught.value.kind is ErrorKind.CONFLICT


def test_a_set_issues_in_one_batch_and_a_refused_product_is_rejected_alone(
    services, world, monkeypatch
):
    """A DMP set is recorded, signed and marked issued together; when one of its products is
    refused at issuance (here its lint), nothing of the batch is written, the other product
    is issued alone and the refused one is rejected with the reason."""
    from sceau.pki.errors import LintError
    from sceau.pki.issuance import lint_certificate as real_lint
    from sceau.registration.use_cases import issue_certificate as issuing

    admin = world.actor(ADMIN_A)
    order = ask(services, admin, bundle="DMP", csrs=(make_csr(new_key()), make_csr(new_key())))
    assert [p.state for p in order.products] == [ProductState.ISSUED, ProductState.ISSUED]
    with services.unit_of_work() as uow:
        issued = uow.audit.list(action="certificate.issue", limit=10)
        assert len(issued) == 2 and issued[0].id == issued[1].id + 1  # one transaction

    def refuse_sign(prepared, issuer, **kwargs):  # type: ignore[no-untyped-def]
        if prepared.request.usage.value == "SIGN":
            raise LintError(["keyUsage: refused for the test"])
        return real_lint(prepared, issuer, **kwargs)

    monkeypatch.setattr(issuing, "lint_certificate", refuse_sign)
    with services.unit_of_work() as uow:
        before = len(uow.certificates.list(limit=1000))
    with pytest.raises(SceauError) as caught:
        ask(services, admin, bundle="DMP", csrs=(make_csr(new_key()), make_csr(new_key())))
    assert "refused for the test" in caught.value.message
    from sqlalchemy import text

    with services.engine.connect() as connection:
        latest = connection.execute(text("SELECT max(id) FROM certificate_orders")).scalar_one()
    with services.unit_of_work() as uow:
        products = uow.orders.products_of(latest)
        states = {p.usage: (p.state, p.rejection_reason) for p in products}
        recorded = uow.certificates.list(limit=100)
    assert states["AUTH_CLI"] == ("issued", None)
    assert states["SIGN"][0] == "rejected" and "refused for the test" in states["SIGN"][1]
    # Only the AUTH_CLI certificate was recorded (and signed): no intent left of the batch.
    assert len(recorded) == before + 1 and {c.status for c in recorded} == {"issued"}


def test_a_failure_after_the_record_is_left_to_recovery_never_issued_twice(
    services, world, monkeypatch
):
    """Once a set's intents are recorded, a failure (here: the CA key refuses to sign) is
    not retried product by product: that would certify the same keys a second time. The
    intents stay ``prepared`` for ``resume_pending_issuance``."""
    from sceau.pki.errors import KeyBackendError
    from sceau.registration.use_cases import issue_certificate as issuing

    def refuse(serial: str) -> None:
        raise KeyBackendError("token_absent", "jeton PKCS#11 absent (pour le test)")

    monkeypatch.setattr(issuing, "before_sign_hook", refuse)
    with services.unit_of_work() as uow:
        before = len(uow.certificates.list(limit=1000))
    with pytest.raises(SceauError):
        ask(
            services,
            world.actor(ADMIN_A),
            bundle="DMP",
            csrs=(make_csr(new_key()), make_csr(new_key())),
        )
    with services.unit_of_work() as uow:
        recorded = uow.certificates.list(limit=1000)
    assert len(recorded) == before + 2
    assert sorted(c.status for c in recorded[:2]) == ["prepared", "prepared"]
