"""Order products left `requested` by a process killed mid-issuance are settled, never stuck."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import PASS_PHRASE, make_csr
from sceau.registration.use_cases.issue_certificate import resume_pending_issuance
from sceau.registration.use_cases.recover_orders import resume_interrupted_orders
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from sceau.bootstrap import build
    from sceau.registration.use_cases import issue_certificate as module
    from sceau.registration.use_cases.request_certificates import RequestCommand, request_certificates

    def die(serial):
        print(serial, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    module.before_sign_hook = die
    online = sys.argv[1] == "online"
    request_certificates(build(), RequestCommand(
        structure="010002301", service_applicatif="DMP", actor_email="admin@editeur.fr",
        usage="AUTH_CLI", csrs=() if online else (sys.stdin.buffer.read(),),
        generate_online=online, pkcs12_password="Mot-de-passe-1" if online else None))
    """
)


def _env(services) -> dict[str, str]:
    return {
        **os.environ,
        "SCEAU_HOME": str(services.settings.home),
        "SCEAU_DATABASE_URL": services.settings.resolved_database_url,
        "SCEAU_CA_PASSPHRASE": PASS_PHRASE,
    }


@pytest.fixture
def pharmacy(services):
    add_structure(
        services,
        AddStructureCommand(finess="010002301", raison_sociale="PHARMACIE A", department="01"),
    )


def _kill_mid_issuance(services, mode: str, csr: bytes = b"") -> str:
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, mode], input=csr, capture_output=True, env=_env(services)
    )
    assert killed.returncode == -9, killed.stderr.decode()
    return killed.stdout.decode().strip()


def _settle(services) -> list[str]:
    services.clock.advance(dt.timedelta(minutes=5))
    resume_pending_issuance(services, older_than=dt.timedelta(0))
    return resume_interrupted_orders(services)


def test_csr_product_is_completed(services, pharmacy, leaf_keys):
    serial = _kill_mid_issuance(services, "csr", make_csr(leaf_keys[0]))
    with services.unit_of_work() as uow:
        (product,) = uow.orders.stale_requested(services.clock.now() + dt.timedelta(days=1))
        assert product.state == "requested"
    lines = _settle(services)
    assert any(serial in line for line in lines)
    with services.unit_of_work() as uow:
        product = uow.orders.product_by_id(product.id)
        assert product.state == "issued"
        certificate = uow.certificates.by_id(product.certificate_id)
        assert certificate.serial == serial and certificate.status == "issued"
        available = uow.events.list(kind="certificate.available")
        assert [e.payload.get("serial") for e in available] == [serial]
    assert _settle(services) == []  # nothing left to do


def test_online_product_with_lost_key_is_abandoned_and_revoked(services, pharmacy):
    serial = _kill_mid_issuance(services, "online")
    _settle(services)
    with services.unit_of_work() as uow:
        certificate = uow.certificates.by_serial(serial)
        assert certificate.status == "issued"
        assert (
            certificate.revoked_at is not None
            and certificate.revocation_reason == "cessationOfOperation"
        )
        product = uow.orders.product_by_certificate(certificate.id)
        assert product.state == "rejected"
        assert "nouvelle demande" in product.rejection_reason
        assert product.pkcs12_blob is None


def test_product_with_nothing_recorded_is_rejected(services, pharmacy):
    now = services.clock.now()
    with services.unit_of_work() as uow:
        structure = uow.structures.by_reference("010002301")
        order = uow.orders.create_order(
            structure_id=structure.id,
            offer="ORG",
            bundle=None,
            kind="new",
            actor_email="a@b.fr",
            cc_email=None,
            requested_by="operator",
            requested_by_person_id=None,
            created_at=now,
        )
        product = uow.orders.create_product(
            order_id=order.id,
            structure_id=structure.id,
            usage="SIGN",
            service_applicatif="DMP",
            insi=False,
            dns_names=None,
            key_source="csr",
            key_fingerprint="00" * 32,
            state="requested",
            renewal_of_id=None,
            requested_at=now,
            state_changed_at=now,
        )
        product_id = product.id
        uow.commit()
    assert resume_interrupted_orders(services) == []  # too recent: maybe still being issued
    lines = _settle(services)
    assert len(lines) == 1
    with services.unit_of_work() as uow:
        product = uow.orders.product_by_id(product_id)
        assert product.state == "rejected" and "refaire la demande" in product.rejection_reason
