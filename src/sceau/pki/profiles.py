"""Certificate profiles ("gabarits") of IGC-Santé ORG and SERV certificates (domain.md §2.3).

A profile says what a leaf of one usage carries; an ``IssuerPolicy`` says what every leaf of
one issuing CA carries (policy OID, URLs, product category). Extension values are built here
and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ObjectIdentifier,
)

PRODUCT_CATEGORY_OID = ObjectIdentifier("1.2.250.1.71.1.2.5")
PRODUCT_CATEGORY_SOFTWARE = 0x03
PRODUCT_CATEGORY_SOFTWARE_TEST = 0x83
VALIDITY_YEARS = 3
ALLOWED_KEY_SIZES = frozenset({2048, 3072, 4096})


class Offer(StrEnum):
    ORG = "ORG"
    SERV = "SERV"


class Usage(StrEnum):
    AUTH_CLI = "AUTH_CLI"
    SIGN = "SIGN"
    CONF = "CONF"
    SERV_SSL = "SERV_SSL"

    @property
    def offer(self) -> Offer:
        return Offer.SERV if self is Usage.SERV_SSL else Offer.ORG

    @property
    def product_label(self) -> str:
        """The label used in file names: ``ORG-AUTH_CLI`` or ``SERV-SSL_SERV``."""
        return "SERV-SSL_SERV" if self is Usage.SERV_SSL else f"ORG-{self.value}"

    @classmethod
    def parse(cls, value: str) -> Usage:
        normalised = value.strip().upper().replace("-", "_")
        aliases = {"SSL": "SERV_SSL", "SSL_SERV": "SERV_SSL", "AUTH": "AUTH_CLI"}
        normalised = aliases.get(normalised, normalised)
        try:
            return cls(normalised)
        except ValueError:
            from sceau.pki.errors import PolicyError

            raise PolicyError(
                "unknown_usage",
                f"usage inconnu {value!r}: choisir parmi auth_cli, sign, conf, serv_ssl",
            ) from None


def _key_usage(
    *,
    digital_signature: bool = False,
    non_repudiation: bool = False,
    key_encipherment: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Profile:
    usage: Usage
    key_usage: x509.KeyUsage
    extended_key_usages: tuple[ObjectIdentifier, ...]
    private_key_usage_period: bool = False
    dns_names: bool = False  # SERV SSL: subjectAltName dNSName, CN = FQDN


PROFILES: dict[Usage, Profile] = {
    Usage.AUTH_CLI: Profile(
        Usage.AUTH_CLI,
        _key_usage(digital_signature=True),
        (ExtendedKeyUsageOID.CLIENT_AUTH,),
    ),
    Usage.SIGN: Profile(
        Usage.SIGN,
        _key_usage(digital_signature=True, non_repudiation=True),
        (ExtendedKeyUsageOID.EMAIL_PROTECTION,),
        private_key_usage_period=True,
    ),
    Usage.CONF: Profile(
        Usage.CONF,
        _key_usage(key_encipherment=True),
        (ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE),
    ),
    Usage.SERV_SSL: Profile(
        Usage.SERV_SSL,
        _key_usage(digital_signature=True, key_encipherment=True),
        (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        dns_names=True,
    ),
}


@dataclass(frozen=True)
class IssuerPolicy:
    """What every leaf of one issuing CA carries. Stored with the CA when it is created."""

    policy_oid: str
    cps_uri: str
    crl_urls: tuple[str, ...]  # one distribution point each (HTTP first, then LDAP)
    delta_crl_urls: tuple[str, ...]  # freshestCRL
    ocsp_url: str
    ca_issuers_url: str
    product_category: int  # 0x83 TEST software certificate, 0x03 PROD


def _distribution_points(urls: tuple[str, ...]) -> list[x509.DistributionPoint]:
    return [
        x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        for url in urls
    ]


def product_category_extension(code: int) -> x509.UnrecognizedExtension:
    """ANS "catégorie de produit": extnValue is an OCTET STRING holding one byte."""
    return x509.UnrecognizedExtension(PRODUCT_CATEGORY_OID, bytes([0x04, 0x01, code]))


def leaf_extensions(
    profile: Profile,
    policy: IssuerPolicy,
    subject_key: rsa.RSAPublicKey,
    issuer_key_identifier: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
    dns_names: tuple[str, ...] = (),
) -> list[tuple[x509.ExtensionType, bool]]:
    """The leaf's extensions with their criticality, in a stable order."""
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), False),
        (profile.key_usage, True),
        (x509.ExtendedKeyUsage(list(profile.extended_key_usages)), False),
    ]
    if profile.private_key_usage_period:
        extensions.append((x509.PrivateKeyUsagePeriod(not_before, not_after), False))
    if profile.dns_names:
        extensions.append(
            (x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), False)
        )
    extensions += [
        (x509.AuthorityKeyIdentifier(issuer_key_identifier, None, None), False),
        (x509.SubjectKeyIdentifier.from_public_key(subject_key), False),
        (
            x509.CertificatePolicies(
                [x509.PolicyInformation(ObjectIdentifier(policy.policy_oid), [policy.cps_uri])]
            ),
            False,
        ),
        (x509.CRLDistributionPoints(_distribution_points(policy.crl_urls)), False),
    ]
    if policy.delta_crl_urls:
        extensions.append((x509.FreshestCRL(_distribution_points(policy.delta_crl_urls)), False))
    extensions += [
        (
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(policy.ocsp_url),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(policy.ca_issuers_url),
                    ),
                ]
            ),
            False,
        ),
        (product_category_extension(policy.product_category), False),
    ]
    return extensions
