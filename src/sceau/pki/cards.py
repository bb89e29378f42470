"""Emulated CPx card authentication certificates (domain.md §9.2).

A "card" here is a TLS client certificate from the persons CA (``AC IGC-SANTE FORT
PERSONNES``) laid out like the authentication certificate of a CPS, CPE or CPA card: the
subject ends with one multi-valued RDN ``GN + CN=<idNat> + SN``, and the ANS private
extensions carry the product type, the card number, the product category and (CPS only) the
profession. The to-be-signed certificate is built and linted here; signing follows the same
record-then-sign discipline as organisation certificates.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
)

from sceau.pki.clock import add_years
from sceau.pki.der import integer, tlv
from sceau.pki.errors import LintError, PolicyError
from sceau.pki.issuance.models import IssuerContext
from sceau.pki.profiles import PRODUCT_CATEGORY_OID, VALIDITY_YEARS, product_category_extension
from sceau.pki.signing.base import throwaway_key

PRODUCT_TYPE_OID = ObjectIdentifier("1.2.250.1.71.1.2.2")
CARD_NUMBER_OID = ObjectIdentifier("1.2.250.1.71.1.2.3")
PROFESSION_OID = ObjectIdentifier("1.2.250.1.71.1.2.7")
MS_SMARTCARD_LOGIN = ObjectIdentifier("1.3.6.1.4.1.311.20.2.2")
UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
UPN_DOMAIN = "carte-cps.fr"
CARD_ISSUER_ID = "8025000001"  # the 10-digit issuer part of card numbers seen on real cards
PRODUCT_CATEGORY_CPX = 0x00
PRODUCT_CATEGORY_CPX_TEST = 0x80

_UTF8 = x509.name._ASN1Type.UTF8String
_PRINTABLE = x509.name._ASN1Type.PrintableString
_CARD_NUMBER_RE = re.compile(r"[0-9]{10}/[0-9]{10}")


class CardType(StrEnum):
    CPS = "CPS"  # health professional (RPPS/ADELI)
    CPE = "CPE"  # staff of a FINESS structure
    CPA = "CPA"  # staff of a non-FINESS organisation (e.g. a software vendor)

    @property
    def product_type(self) -> int:
        """TRE_G02-TypeProduit code carried in extension 1.2.250.1.71.1.2.2."""
        return _PRODUCT_TYPES[self]

    @property
    def card_number_prefix(self) -> str:
        """First two digits of the 10-digit card number ([?]: 28 CPS, 26 CPE seen; 27 ours)."""
        return _NUMBER_PREFIXES[self]

    @classmethod
    def parse(cls, value: str) -> CardType:
        try:
            return cls(value.strip().upper())
        except ValueError:
            raise PolicyError(
                "card_type", f"type de carte {value!r} inconnu: CPS, CPE ou CPA attendu"
            ) from None


_PRODUCT_TYPES = {CardType.CPS: 0, CardType.CPE: 2, CardType.CPA: 3}
_NUMBER_PREFIXES = {CardType.CPS: "28", CardType.CPE: "26", CardType.CPA: "27"}


class Profession(IntEnum):
    """TRE_G15-ProfessionSante codes (the ones we name)."""

    MEDECIN = 10
    PHARMACIEN = 21
    CHIRURGIEN_DENTISTE = 40
    SAGE_FEMME = 50
    INFIRMIER = 60
    MASSEUR_KINESITHERAPEUTE = 70


PROFESSION_LABELS = {
    10: "Médecin",
    21: "Pharmacien",
    40: "Chirurgien-dentiste",
    50: "Sage-femme",
    60: "Infirmier",
    70: "Masseur-kinésithérapeute",
}
STAFF_TITLES = {CardType.CPE: "Personnel santé ou social", CardType.CPA: "Personnel autorisé"}


@dataclass(frozen=True)
class CardHolder:
    """Everything the subject of a card certificate says about its holder."""

    idnat: str
    family_name: str
    given_name: str
    card_type: CardType
    card_number: str  # 8025000001/<10 digits>
    profession_code: int | None = None  # CPS only
    organisation: str | None = None  # CPE/CPA: the structure or vendor
    organisation_id: str | None = None  # CPE/CPA: its IDNST (OU)
    state: str | None = None  # CPE/CPA: "Rhône (69)"

    def __post_init__(self) -> None:
        for label, value in (
            ("idNat", self.idnat),
            ("nom", self.family_name),
            ("prénom", self.given_name),
        ):
            if not value or value != value.strip() or len(value) > 64:
                raise PolicyError(
                    "card_holder_field",
                    f"{label}: valeur vide, trop longue (> 64) ou entourée d'espaces",
                )
        if _CARD_NUMBER_RE.fullmatch(self.card_number) is None:
            raise PolicyError(
                "card_number_format",
                f"numéro de carte {self.card_number!r}: <10 chiffres>/<10 chiffres> attendu",
            )
        if self.card_type is CardType.CPS:
            if self.profession_code is None:
                raise PolicyError("card_profession", "une carte CPS porte un code profession")
            if self.organisation or self.organisation_id:
                raise PolicyError("card_organisation", "une carte CPS ne porte ni O ni OU")
        elif not (self.organisation and self.organisation_id):
            raise PolicyError(
                "card_organisation",
                f"une carte {self.card_type.value} porte l'organisation (O) et son "
                "identifiant (OU)",
            )

    @property
    def title(self) -> str:
        if self.card_type is CardType.CPS:
            assert self.profession_code is not None
            return PROFESSION_LABELS.get(self.profession_code, "Professionnel de santé")
        return STAFF_TITLES[self.card_type]

    @property
    def upn(self) -> str:
        return f"{self.idnat}@{UPN_DOMAIN}"


def card_subject(holder: CardHolder) -> x509.Name:
    """``C=FR, [ST, O, OU,] title, {GN + CN=<idNat> + SN}`` (the last RDN multi-valued)."""
    rdns = [
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR", _PRINTABLE)])
    ]
    if holder.card_type is not CardType.CPS:
        assert holder.organisation is not None and holder.organisation_id is not None
        if holder.state:
            rdns.append(_single(NameOID.STATE_OR_PROVINCE_NAME, holder.state))
        rdns.append(_single(NameOID.ORGANIZATION_NAME, holder.organisation))
        rdns.append(_single(NameOID.ORGANIZATIONAL_UNIT_NAME, holder.organisation_id))
    rdns.append(_single(NameOID.TITLE, holder.title))
    rdns.append(
        x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(NameOID.GIVEN_NAME, holder.given_name, _UTF8),
                x509.NameAttribute(NameOID.COMMON_NAME, holder.idnat, _UTF8),
                x509.NameAttribute(NameOID.SURNAME, holder.family_name, _UTF8),
            ]
        )
    )
    return x509.Name(rdns)


def _single(oid: ObjectIdentifier, value: str) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName([x509.NameAttribute(oid, value, _UTF8)])


def _private(oid: ObjectIdentifier, der_value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(oid, der_value)


def card_extensions(
    holder: CardHolder,
    issuer: IssuerContext,
    subject_key: rsa.RSAPublicKey,
    *,
    test: bool,
) -> list[tuple[x509.ExtensionType, bool]]:
    """The card certificate's extensions with their criticality."""
    policy = issuer.policy
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if holder.card_type is not CardType.CPS:
        usages.append(MS_SMARTCARD_LOGIN)
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), False),
        (
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
            True,
        ),
        (x509.ExtendedKeyUsage(usages), False),
    ]
    if holder.card_type is not CardType.CPS:
        upn = tlv(0x0C, holder.upn.encode())
        extensions.append((x509.SubjectAlternativeName([x509.OtherName(UPN_OID, upn)]), False))
    extensions += [
        (x509.AuthorityKeyIdentifier(issuer.key_identifier, None, None), False),
        (x509.SubjectKeyIdentifier.from_public_key(subject_key), False),
        (
            x509.CertificatePolicies(
                [x509.PolicyInformation(ObjectIdentifier(policy.policy_oid), [policy.cps_uri])]
            ),
            False,
        ),
        (
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
                    for url in policy.crl_urls
                ]
            ),
            False,
        ),
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
        (
            product_category_extension(PRODUCT_CATEGORY_CPX_TEST if test else PRODUCT_CATEGORY_CPX),
            False,
        ),
        (_private(PRODUCT_TYPE_OID, integer(holder.card_type.product_type)), False),
        (_private(CARD_NUMBER_OID, tlv(0x13, holder.card_number.encode("ascii"))), False),
    ]
    if holder.card_type is CardType.CPS:
        assert holder.profession_code is not None
        extensions.append((_private(PROFESSION_OID, integer(holder.profession_code)), False))
    return extensions


@dataclass(frozen=True)
class PreparedCard:
    """A linted card TBS; ``tbs`` is recorded, then signed by the persons CA."""

    serial: int
    tbs: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    holder: CardHolder
    lint_copy: x509.Certificate

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "032x")


def prepare_card_certificate(
    holder: CardHolder,
    public_key: rsa.RSAPublicKey,
    issuer: IssuerContext,
    serial: int,
    not_before: dt.datetime,
    *,
    test: bool,
) -> PreparedCard:
    """Build and lint the card certificate's TBS (copy signed by a throw-away key)."""
    if public_key.key_size < 2048:
        raise PolicyError("card_key_size", "clé de carte: RSA 2048 bits minimum")
    not_after = add_years(not_before, VALIDITY_YEARS)
    builder = (
        x509.CertificateBuilder()
        .subject_name(card_subject(holder))
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in card_extensions(holder, issuer, public_key, test=test):
        builder = builder.add_extension(extension, critical=critical)
    copy = builder.sign(throwaway_key(), hashes.SHA256())
    findings = card_findings(copy, holder, issuer)
    if findings:
        raise LintError(findings)
    return PreparedCard(serial, copy.tbs_certificate_bytes, not_before, not_after, holder, copy)


def card_findings(cert: x509.Certificate, holder: CardHolder, issuer: IssuerContext) -> list[str]:
    """Errors against the card layout: what authentication later relies on."""
    errors: list[str] = []
    last = list(cert.subject.rdns)[-1]
    if {attribute.oid for attribute in last} != {
        NameOID.GIVEN_NAME,
        NameOID.COMMON_NAME,
        NameOID.SURNAME,
    }:
        errors.append("subject: last RDN must be GN + CN + SN")
    if cert.issuer != issuer.certificate.subject:
        errors.append("issuer: must be the persons CA's subject")
    if cert.not_valid_after_utc != add_years(cert.not_valid_before_utc, VALIDITY_YEARS):
        errors.append("validity: must be exactly three years")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            errors.append("extKeyUsage: clientAuth missing")
    except x509.ExtensionNotFound:
        errors.append("extKeyUsage: missing")
    for oid in (PRODUCT_TYPE_OID, CARD_NUMBER_OID, PRODUCT_CATEGORY_OID):
        try:
            cert.extensions.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            errors.append(f"extension {oid.dotted_string}: missing")
    return errors
