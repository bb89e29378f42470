"""Each bad CSR gets its own error code and leaves nothing in the database."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from conftest import make_csr
from sceau.pki.errors import CsrError
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
from sceau.registration.use_cases.revoke_certificate import RevokeCommand, revoke_certificate
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure


def _csr_for(key, encoding=serialization.Encoding.PEM) -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
        .public_bytes(encoding)
    )


def _bad_signature(key) -> bytes:
    der = bytearray(_csr_for(key, serialization.Encoding.DER))
    der[-1] ^= 0x01
    return bytes(der)


def _exponent_3() -> bytes:
    key = rsa.generate_private_key(public_exponent=3, key_size=2048)
    return _csr_for(key)


def _roca() -> bytes:
    from unit.pki.roca_keys import roca_private_key

    return _csr_for(roca_private_key())


BAD_CSRS = {
    "csr_empty": lambda keys: b"   ",
    "csr_malformed": lambda keys: (
        b"-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all\n-----END CERTIFICATE REQUEST-----\n"
    ),
    "csr_malformed_der": lambda keys: b"\x30\x03\x02\x01\x00",
    "csr_malformed_pem_label": lambda keys: keys[0].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ),
    "csr_bad_signature": lambda keys: _bad_signature(keys[0]),
    "csr_unsupported_key": lambda keys: _csr_for(ec.generate_private_key(ec.SECP256R1())),
    "csr_key_size": lambda keys: _csr_for(
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ),
    "csr_key_exponent": lambda keys: _exponent_3(),
    "csr_roca_key": lambda keys: _roca(),
    "csr_too_large": lambda keys: b"\x30" * (70 * 1024),
}


@pytest.fixture
def structure(services):
    add_structure(
        services,
        AddStructureCommand(finess="010002301", raison_sociale="PHARMACIE A", department="01"),
    )
    add_structure(
        services,
        AddStructureCommand(finess="010000016", raison_sociale="PHARMACIE B", department="01"),
    )


def _issue(services, csr: bytes, structure: str = "010002301", usage: Usage = Usage.AUTH_CLI):
    return issue_certificate(
        services, IssueCommand(structure=structure, usage=usage, service_applicatif="DMP", csr=csr)
    )


def _count(services) -> int:
    with services.unit_of_work() as uow:
        return len(uow.certificates.list(limit=1000))


@pytest.mark.parametrize("case", sorted(BAD_CSRS))
def test_bad_csr_refused_with_its_own_reason(services, structure, leaf_keys, case):
    csr = BAD_CSRS[case](leaf_keys)
    with pytest.raises(CsrError) as caught:
        _issue(services, csr)
    expected = case.removesuffix("_der").removesuffix("_pem_label")
    assert caught.value.code == expected
    assert caught.value.message  # a sentence for the user, not an empty string
    assert _count(services) == 0


def test_pem_and_der_accepted(services, structure, leaf_keys):
    _issue(services, make_csr(leaf_keys[0]))
    _issue(services, _csr_for(leaf_keys[0], serialization.Encoding.DER), usage=Usage.SIGN)
    assert _count(services) == 2


def test_sizes_3072_and_4096_accepted(services, structure):
    for size in (3072, 4096):
        key = rsa.generate_private_key(public_exponent=65537, key_size=size)
        assert _issue(services, _csr_for(key)).certificate.public_key().key_size == size


def test_key_already_certified_for_another_structure(services, structure, leaf_keys):
    _issue(services, make_csr(leaf_keys[1]))
    before = _count(services)
    with pytest.raises(CsrError) as caught:
        _issue(services, make_csr(leaf_keys[1]), structure="010000016")
    assert caught.value.code == "csr_key_other_structure"
    assert _count(services) == before


def test_key_of_certificate_revoked_for_key_compromise(services, structure, leaf_keys):
    issued = _issue(services, make_csr(leaf_keys[4]))
    revoke_certificate(services, RevokeCommand(issued.serial, x509.ReasonFlags.key_compromise))
    before = _count(services)
    with pytest.raises(CsrError) as caught:
        _issue(services, make_csr(leaf_keys[4]), usage=Usage.SIGN)
    assert caught.value.code == "csr_key_compromised"
    assert _count(services) == before


def test_csr_subject_and_extensions_are_not_trusted(services, structure, leaf_keys):
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "evil"),
                    x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@b.fr"),
                ]
            )
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("evil.example")]), critical=False)
        .sign(leaf_keys[5], hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    cert = _issue(services, csr).certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "DMP"
    assert not cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
