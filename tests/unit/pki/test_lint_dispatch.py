"""The planned dispatch of ``sceau.pki.issuance.lint`` finds exactly what pkilint's own
traversal finds, on well-formed and on deliberately broken certificates."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkilint import loader

from sceau.pki.issuance import lint

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def _cert(
    extensions: list[tuple[x509.ExtensionType, bool]],
    *,
    subject: x509.Name | None = None,
    key: object = None,
    days: int = 365,
    serial: int = 0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0,
) -> bytes:
    ca = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject if subject is not None else _name((NameOID.COMMON_NAME, "leaf")))
        .issuer_name(_name((NameOID.COUNTRY_NAME, "FR"), (NameOID.COMMON_NAME, "TEST CA")))
        .public_key(key or ca.public_key())  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=days))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(ca, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _ski() -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(_key().public_key())


def _aki() -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(_key().public_key())


def _corpus() -> dict[str, bytes]:
    ku_sign = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    ku_ca = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    san_all = x509.SubjectAlternativeName(
        [
            x509.DNSName("svc.example.fr"),
            x509.DNSName("-bad-.example..fr"),
            x509.RFC822Name("bal@pharmacie.example.fr"),
            x509.RFC822Name("not an address"),
            x509.UniformResourceIdentifier("https://example.fr/x"),
            x509.UniformResourceIdentifier("not a uri"),
            x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
        ]
    )
    return {
        "leaf": _cert(
            [
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (ku_sign, True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
                (_ski(), False),
                (_aki(), False),
                (
                    x509.CRLDistributionPoints(
                        [
                            x509.DistributionPoint(
                                [x509.UniformResourceIdentifier("http://crl.example/a.crl")],
                                None,
                                None,
                                None,
                            )
                        ]
                    ),
                    False,
                ),
                (
                    x509.CertificatePolicies(
                        [x509.PolicyInformation(x509.ObjectIdentifier("1.2.250.1.71.2.6.1"), None)]
                    ),
                    False,
                ),
            ],
            subject=_name(
                (NameOID.COUNTRY_NAME, "FR"),
                (NameOID.STATE_OR_PROVINCE_NAME, "Rhône (69)"),
                (NameOID.ORGANIZATION_NAME, "PHARMACIE DU PONT"),
                (NameOID.ORGANIZATIONAL_UNIT_NAME, "1690000001"),
                (NameOID.COMMON_NAME, "INSI-AUTO"),
            ),
        ),
        "wrong criticalities": _cert(
            [
                (x509.BasicConstraints(ca=False, path_length=None), False),
                (ku_sign, False),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), False),
                (_ski(), True),
                (_aki(), True),
                (san_all, True),
            ]
        ),
        "no extensions, empty subject": _cert([], subject=x509.Name([])),
        "ca with name constraints": _cert(
            [
                (x509.BasicConstraints(ca=True, path_length=0), True),
                (ku_ca, True),
                (_ski(), False),
                (
                    x509.NameConstraints(
                        permitted_subtrees=[x509.DNSName("example.fr")], excluded_subtrees=None
                    ),
                    False,
                ),
                (
                    x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None),
                    False,
                ),
                (x509.InhibitAnyPolicy(0), False),
            ]
        ),
        "ec key, odd names, long validity": _cert(
            [
                (x509.SubjectAlternativeName([x509.DNSName("a" * 70 + ".example")]), False),
                (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"), True),
                (
                    x509.AuthorityInformationAccess(
                        [
                            x509.AccessDescription(
                                x509.oid.AuthorityInformationAccessOID.OCSP,
                                x509.UniformResourceIdentifier("http://ocsp.example"),
                            )
                        ]
                    ),
                    True,
                ),
            ],
            subject=_name((NameOID.ORGANIZATION_NAME, "x" * 80), (NameOID.EMAIL_ADDRESS, "bad")),
            key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            days=365 * 40,
            serial=1,
        ),
    }


def _findings(validator: object, der: bytes) -> list[tuple[str, str, list[str]]]:
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    return [
        (
            type(result.validator).__name__,
            result.node.path,
            [str(description) for description in result.finding_descriptions],
        )
        for result in validator.validate(document.root)  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("case", list(_corpus()))
def test_planned_dispatch_finds_what_pkilint_finds(case: str) -> None:
    der = _corpus()[case]
    reference = _findings(lint._pkilint_validator(), der)
    planned = _findings(lint._pkix_validator(), der)
    assert planned == reference
    if case != "leaf":  # the broken ones do break something
        assert any(findings for _, _, findings in reference)


def test_planned_dispatch_leaves_pkilint_classes_untouched() -> None:
    from pkilint.validation import ValidatorContainer

    lint._pkix_validator()
    assert "_validate_rec" not in vars(lint._pkilint_validator())
    assert ValidatorContainer._validate_rec.__module__ == "pkilint.validation"
