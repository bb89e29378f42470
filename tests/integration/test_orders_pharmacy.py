"""A pharmacy's full set — INSI-AUTO AUTH_CLI, DMP AUTH_CLI, DMP SIGN — from request to
retrieval through the use cases; every file is opened with openssl."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from orders_world import (
    ADMIN_A,
    CC,
    CODE,
    EMAIL,
    P1,
    PASSWORD,
    build_world,
    check_files,
    new_key,
    order_online,
    retrieve,
    write,
)

from conftest import make_csr
from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.pkcs12 import load_pkcs12
from sceau.registration.orders.states import ProductState
from sceau.registration.use_cases.request_certificates import RequestCommand, request_certificates
from sceau.registration.use_cases.retrieve_certificate import download_certificate

IDNST = "1010002301"


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def test_full_pharmacy_set_online(services, world, tmp_path):
    admin = world.actor(ADMIN_A)
    insi = order_online(services, admin, bundle="INSI", cn="INSI-AUTO")
    dmp = order_online(services, admin, bundle="DMP", cn="LGO Officine DMP")
    assert insi.bundle == "INSI" and [p.usage for p in insi.products] == ["AUTH_CLI"]
    assert insi.products[0].insi
    assert dmp.bundle == "DMP" and [p.usage for p in dmp.products] == ["AUTH_CLI", "SIGN"]
    products = [*insi.products, *dmp.products]
    assert all(p.state is ProductState.ISSUED and p.awaiting_pkcs12 for p in products)
    assert all(p.key_source == "online" and p.serial for p in products)

    # Only the password-protected PKCS#12 is stored, never the clear key.
    with services.unit_of_work() as uow:
        for product in products:
            row = uow.orders.product_by_id(product.id)
            key, certificate, _ = load_pkcs12(row.pkcs12_blob, PASSWORD.encode())
            clear = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
            assert clear not in row.pkcs12_blob
            assert certificate.serial_number == int(product.serial, 16)

    for product, layout in zip(products, ("ans", "aes", "ans"), strict=True):
        files = retrieve(services, admin, product.serial, layout=layout)
        folder = tmp_path / product.serial
        folder.mkdir()
        written = write(folder, files)
        assert set(written) == {"p12", "pem", "cer", "p7b"}
        check_files(
            folder,
            written,
            cn=product.service_applicatif,
            idnst=IDNST,
            usage=product.usage,
            layout=layout,
        )

    with services.unit_of_work() as uow:
        for product in products:
            row = uow.orders.product_by_id(product.id)
            assert row.state == "retrieved" and row.pkcs12_blob is None  # destroyed
            assert row.revocation_code_hash.startswith("$argon2id$")
            assert CODE not in row.revocation_code_hash
            assert (row.cgu_version, row.pc_version) == ("CGU-SCEAU-1.0", "PC-ORG-TEST-1.0")
        events = uow.events.list(limit=100)
        kinds = sorted(e.kind for e in events)
        assert kinds.count("order.received") == 3
        assert kinds.count("certificate.available") == 3
        assert kinds.count("certificate.retrieved") == 3
        available = next(e for e in events if e.kind == "certificate.available")
        assert available.recipient == EMAIL
        assert available.payload["recipients"] == [EMAIL] and available.payload["cc"] == [CC]
        assert available.payload["structure"] == IDNST and available.payload["serial"]
        assert available.payload["retrieval_url"].endswith("/retrieve")

    # Retrieval happens once; the public files can be downloaded again, never the key.
    with pytest.raises(SceauError) as caught:
        retrieve(services, admin, products[0].serial)
    assert caught.value.kind is ErrorKind.CONFLICT and "déjà été retiré" in caught.value.message
    again = download_certificate(services, products[0].serial, admin)
    assert sorted(f.name.rsplit(".", 1)[1] for f in again.files) == ["cer", "p7b", "pem"]


def test_full_pharmacy_set_with_csrs(services, world, tmp_path):
    admin = world.actor(ADMIN_A)
    keys = [new_key(), new_key(), new_key()]
    insi = request_certificates(
        services,
        RequestCommand(
            structure=P1,
            service_applicatif="INSI-AUTO",
            actor_email=EMAIL,
            actor=admin,
            usage="AUTH_CLI",
            insi=True,
            csrs=(make_csr(keys[0]),),
        ),
    )
    dmp = request_certificates(
        services,
        RequestCommand(
            structure=P1,
            service_applicatif="DMP",
            actor_email=EMAIL,
            actor=admin,
            bundle="DMP",
            csrs=(make_csr(keys[1]), make_csr(keys[2])),
        ),
    )
    products = [*insi.products, *dmp.products]
    assert [p.state for p in products] == [ProductState.ISSUED] * 3
    for product, key in zip(products, keys, strict=True):
        files = retrieve(services, admin, product.serial, password=None)
        folder = tmp_path / product.serial
        folder.mkdir()
        written = write(folder, files)
        check_files(
            folder,
            written,
            cn=product.service_applicatif,
            idnst=IDNST,
            usage=product.usage,
            password=None,
        )
        leaf = files.by_extension(".cer").content
        from cryptography import x509

        assert x509.load_der_x509_certificate(leaf).public_key() == key.public_key()
