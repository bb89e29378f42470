"""Every profile, field by field against domain.md §2, and through outside validators."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import make_csr
from sceau.pki.profiles import PRODUCT_CATEGORY_OID, Usage
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure

CASES = {
    Usage.AUTH_CLI: ("INSI-MANU", (), "03020780"),
    Usage.SIGN: ("DMP-SIGN", (), "030206c0"),
    Usage.CONF: ("Pharmacie-CONF", (), "03020520"),
    Usage.SERV_SSL: ("mss.pharmacie-exemple.fr", ("smtp.pharmacie-exemple.fr",), "030205a0"),
}
EKU = {
    Usage.AUTH_CLI: [ExtendedKeyUsageOID.CLIENT_AUTH],
    Usage.SIGN: [ExtendedKeyUsageOID.EMAIL_PROTECTION],
    Usage.CONF: [ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE],
    Usage.SERV_SSL: [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
}


@pytest.fixture
def structure(services):
    return add_structure(
        services,
        AddStructureCommand(
            finess="0B0039137", raison_sociale="PHARMACIE DE LA GARE ROUTIERE", department="69"
        ),
    )


@pytest.mark.parametrize("usage", list(Usage))
def test_profile_field_by_field(services, structure, leaf_keys, usage, tmp_path):
    cn, dns, ku_der = CASES[usage]
    issued = issue_certificate(
        services,
        IssueCommand(
            structure="0B0039137",
            usage=usage,
            service_applicatif=cn,
            csr=make_csr(leaf_keys[2], "CN from the CSR is ignored"),
            dns_names=dns,
            insi=cn.startswith("INSI"),
        ),
    )
    cert = issued.certificate
    # Subject: C, ST, O, OU, CN in DER order, UTF8String except C.
    rdns = [next(iter(r)) for r in cert.subject.rdns]
    assert [a.oid for a in rdns] == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]
    assert [a.value for a in rdns] == [
        "FR",
        "Rhône (69)",
        "PHARMACIE DE LA GARE ROUTIERE",
        "10B0039137",
        cn,
    ]
    assert [a._type.name for a in rdns] == ["PrintableString"] + ["UTF8String"] * 4
    assert b"Rh\xc3\xb4ne (69)" in cert.public_bytes(serialization.Encoding.DER)
    # Serial: 16 bytes, high bit clear.
    assert cert.serial_number.bit_length() in range(121, 128)
    # Validity: exactly three years from issuance.
    assert cert.not_valid_before_utc == services.clock.now()
    assert cert.not_valid_after_utc == cert.not_valid_before_utc.replace(
        year=cert.not_valid_before_utc.year + 3
    )
    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    ext = cert.extensions
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.public_bytes().hex() == ku_der
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical and list(eku.value) == EKU[usage]
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert not bc.critical and bc.value.ca is False
    pkup = [e for e in ext if isinstance(e.value, x509.PrivateKeyUsagePeriod)]
    if usage is Usage.SIGN:
        assert pkup[0].value.not_before == cert.not_valid_before_utc.replace(tzinfo=None)
        assert pkup[0].value.not_after == cert.not_valid_after_utc.replace(tzinfo=None)
    else:
        assert not pkup
    san = [e for e in ext if isinstance(e.value, x509.SubjectAlternativeName)]
    if usage is Usage.SERV_SSL:
        assert san[0].value.get_values_for_type(x509.DNSName) == [cn, *dns]
    else:
        assert not san
    issuer = issued.chain[0]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert (
        aki.key_identifier
        == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    assert aki.authority_cert_issuer is None
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == (
        x509.SubjectKeyIdentifier.from_public_key(leaf_keys[2].public_key()).digest
    )
    policies = ext.get_extension_for_class(x509.CertificatePolicies).value
    assert policies[0].policy_identifier.dotted_string == "1.2.250.1.213.1.7.2.1.1.1.1"
    assert policies[0].policy_qualifiers == ["http://igc-sante.esante.gouv.fr/PC%20TEST"]
    cdp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == "http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG-TEST.crl"
    assert (
        cdp[1]
        .full_name[0]
        .value.startswith(
            "ldap://annuaire-igc.esante.gouv.fr/cn=TEST%20AC%20IGC-SANTE%20ELEMENTAIRE%20ORGANISATIONS,"
            "ou=TEST%20AC%20RACINE%20IGC-SANTE%20ELEMENTAIRE,ou=IGC-SANTE%20TEST,ou=0002%20187512751,o=ASIP-SANTE,c=FR"
            "?certificaterevocationlist;binary"
        )
    )
    freshest = ext.get_extension_for_class(x509.FreshestCRL).value
    assert (
        freshest[0].full_name[0].value
        == "http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG-TEST-delta.crl"
    )
    assert "?deltarevocationlist;binary" in freshest[1].full_name[0].value
    aia = {
        d.access_method: d.access_location.value
        for d in ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    }
    assert aia[x509.AuthorityInformationAccessOID.OCSP] == "http://ocsp.esante.gouv.fr"
    assert aia[x509.AuthorityInformationAccessOID.CA_ISSUERS] == (
        "http://igc-sante.esante.gouv.fr/AC%20TEST/ACI-EL-ORG-TEST.cer"
    )
    category = ext.get_extension_for_oid(PRODUCT_CATEGORY_OID)
    assert not category.critical and category.value.value == bytes.fromhex("040183")
    assert issuer.subject.rfc4514_string() == (
        "CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS,OU=IGC-SANTE TEST,OU=0002 187512751,O=ASIP-SANTE,C=FR"
    )

    # Outside validators: pkilint's RFC 5280 linter (its own command) and openssl verify.
    leaf_pem = tmp_path / "leaf.pem"
    leaf_pem.write_bytes(issued.pem)
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "lint_pkix_cert"), "lint", "-s", "ERROR", str(leaf_pem)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    (tmp_path / "root.pem").write_bytes(issued.chain[1].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "ca.pem"),
            str(leaf_pem),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_validity_on_29_february(services, structure, leaf_keys):
    services.clock.set(dt.datetime(2028, 2, 29, 12, 0, tzinfo=dt.UTC))
    issued = issue_certificate(
        services,
        IssueCommand(
            structure="0B0039137",
            usage=Usage.AUTH_CLI,
            service_applicatif="DMP",
            csr=make_csr(leaf_keys[3]),
        ),
    )
    assert issued.certificate.not_valid_after_utc == dt.datetime(2031, 2, 28, 12, 0, tzinfo=dt.UTC)


def test_hierarchy_shape(services):
    with services.unit_of_work() as uow:
        cas = {
            a.role: x509.load_der_x509_certificate(a.certificate_der) for a in uow.authorities.all()
        }
    root, org, persons = cas["root"], cas["organisations"], cas["persons"]
    assert root.subject.rfc4514_string() == (
        "CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE,OU=IGC-SANTE TEST,OU=0002 187512751,O=ASIP-SANTE,C=FR"
    )
    for ca in (root, org, persons):
        key = ca.public_key()
        assert key.key_size == 4096
        assert ca.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
        bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca
        ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length is None
    assert org.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days in (7304, 7305)
    assert org.not_valid_after_utc == root.not_valid_after_utc - dt.timedelta(days=1)
    org.verify_directly_issued_by(root)
    persons.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
