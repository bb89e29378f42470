"""The CA ceremony: root, issuing CAs and the delegated OCSP responder (domain.md §1).

Every function takes keys and names as arguments; where the keys live and what the names
are is decided by the caller (configuration, then the database).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from sceau.pki.clock import add_years
from sceau.pki.issuance.prepare import new_serial
from sceau.pki.issuance.sign import sign_tbs
from sceau.pki.names import ca_name
from sceau.pki.signing.base import SigningKey, throwaway_key

ROOT_VALIDITY_YEARS = 20
ANY_POLICY = x509.oid.CertificatePoliciesOID.ANY_POLICY


@dataclass(frozen=True)
class CaNaming:
    """Names and publication points of one hierarchy (TEST or PROD)."""

    environment: str  # "test" or "prod"
    organisation: str = "ASIP-SANTE"
    organisation_identifier: str = "0002 187512751"

    @property
    def is_test(self) -> bool:
        return self.environment == "test"

    @property
    def range_ou(self) -> str:
        return "IGC-SANTE TEST" if self.is_test else "IGC-SANTE"

    def common_name(self, base: str) -> str:
        return f"TEST {base}" if self.is_test else base

    def file_stem(self, base: str) -> str:
        """``ACI-EL-ORG`` → ``ACI-EL-ORG-TEST`` in the TEST hierarchy."""
        return f"{base}-TEST" if self.is_test else base

    def name(self, base_cn: str) -> x509.Name:
        return ca_name(
            self.common_name(base_cn),
            self.organisation,
            self.organisation_identifier,
            self.range_ou,
        )


def ldap_url(ldap_base: str, subject_path: list[str], attribute: str) -> str:
    """An LDAP CRL URL in the annuaire-igc form (lower-case DN, spaces as %20)."""
    dn = ",".join(quote(part, safe="=-.'") for part in subject_path)
    return f"{ldap_base.rstrip('/')}/{dn}?{attribute};binary?base?objectClass=pkiCA"


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _sign_builder(
    builder: x509.CertificateBuilder, key: SigningKey, issuer: x509.Certificate | None
) -> x509.Certificate:
    copy = builder.sign(throwaway_key(), hashes.SHA256())
    return sign_tbs(copy.tbs_certificate_bytes, key, issuer)


def create_root_certificate(
    key: SigningKey, name: x509.Name, not_before: dt.datetime, cps_uri: str
) -> x509.Certificate:
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(new_serial())
        .not_valid_before(not_before)
        .not_valid_after(add_years(not_before, ROOT_VALIDITY_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(ANY_POLICY, [cps_uri])]),
            critical=False,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
    )
    return _sign_builder(builder, key, None)


def create_intermediate_certificate(
    subject_key: rsa.RSAPublicKey,
    name: x509.Name,
    issuer: x509.Certificate,
    issuer_key: SigningKey,
    not_before: dt.datetime,
    cps_uri: str,
    crl_urls: tuple[str, ...],
) -> x509.Certificate:
    """An issuing CA: pathlen 0, valid until the day before its root expires."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject)
        .public_key(subject_key)
        .serial_number(new_serial())
        .not_valid_before(not_before)
        .not_valid_after(issuer.not_valid_after_utc - dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(ANY_POLICY, [cps_uri])]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(issuer_ski.digest, None, None), critical=False)
    )
    if crl_urls:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
                    for u in crl_urls
                ]
            ),
            critical=False,
        )
    return _sign_builder(builder, issuer_key, issuer)


def create_ocsp_responder_certificate(
    subject_key: rsa.RSAPublicKey,
    issuer: x509.Certificate,
    issuer_key: SigningKey,
    not_before: dt.datetime,
    validity: dt.timedelta,
) -> x509.Certificate:
    """A delegated OCSP responder (id-kp-OCSPSigning, ocsp-nocheck) issued by ``issuer``."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    issuer_cn = issuer.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    name = x509.Name(
        [
            *(
                rdn
                for rdn in issuer.subject.rdns
                if next(iter(rdn)).oid != x509.NameOID.COMMON_NAME
            ),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{issuer_cn!s} OCSP")]
            ),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject)
        .public_key(subject_key)
        .serial_number(new_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_before + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(issuer_ski.digest, None, None), critical=False)
    )
    return _sign_builder(builder, issuer_key, issuer)
