"""Issuance through the use case, on every selected database engine."""

from __future__ import annotations

import pytest
from cryptography import x509

from conftest import make_csr
from sceau.pki.errors import CsrError, PolicyError
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure


@pytest.fixture
def pharmacy(services):
    return add_structure(
        services,
        AddStructureCommand(
            finess="010002301", raison_sociale="PHARMACIE VOLLENWEIDER", department="01"
        ),
    )


def test_issue_records_then_signs(services, pharmacy, leaf_keys):
    issued = issue_certificate(
        services,
        IssueCommand(
            structure="010002301",
            usage=Usage.AUTH_CLI,
            service_applicatif="INSI-AUTO",
            csr=make_csr(leaf_keys[0]),
            insi=True,
        ),
    )
    assert issued.certificate.subject.rfc4514_string() == (
        "CN=INSI-AUTO,OU=1010002301,O=PHARMACIE VOLLENWEIDER,ST=Ain (01),C=FR"
    )
    with services.unit_of_work() as uow:
        row = uow.certificates.by_serial(issued.serial)
        assert row.status == "issued"
        assert x509.load_der_x509_certificate(row.certificate_der) == issued.certificate
        assert row.tbs_der == issued.certificate.tbs_certificate_bytes


def test_wrong_insi_name_is_refused_and_nothing_recorded(services, pharmacy, leaf_keys):
    with pytest.raises(PolicyError) as caught:
        issue_certificate(
            services,
            IssueCommand(
                structure="010002301",
                usage=Usage.AUTH_CLI,
                service_applicatif="insi-auto",
                csr=make_csr(leaf_keys[0]),
                insi=True,
            ),
        )
    assert caught.value.code == "insi_common_name"
    with services.unit_of_work() as uow:
        assert list(uow.certificates.list()) == []


def test_key_certified_for_another_structure_is_refused(services, pharmacy, leaf_keys):
    add_structure(
        services,
        AddStructureCommand(finess="010000016", raison_sociale="PHARMACIE AUTRE", department="01"),
    )
    csr = make_csr(leaf_keys[1])
    issue_certificate(
        services,
        IssueCommand(structure="010002301", usage=Usage.SIGN, service_applicatif="DMP", csr=csr),
    )
    with pytest.raises(CsrError) as caught:
        issue_certificate(
            services,
            IssueCommand(
                structure="010000016", usage=Usage.SIGN, service_applicatif="DMP", csr=csr
            ),
        )
    assert caught.value.code == "csr_key_other_structure"
