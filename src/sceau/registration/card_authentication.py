"""Authenticate a card (a TLS client certificate) before its identity is used (domain §9.3).

:func:`authenticate_card_certificate` is pure: it gets the presented certificate, the trusted
issuing CAs (the persons CAs), a revocation lookup and the time. It checks, in order: the
issuer is a trusted CA and its signature verifies; the certificate is within its validity
(and so is its CA); it is not a CA; KU digitalSignature and EKU clientAuth; not revoked. Only
then is the identity read (idNat, names, card type and number, profession).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sceau.pki.cards import CARD_NUMBER_OID, PRODUCT_TYPE_OID, PROFESSION_OID, CardType
from sceau.pki.errors import ErrorKind, SceauError

RevocationLookup = Callable[[x509.Certificate], bool]
"""True when the certificate is revoked (by its issuer and serial number)."""

_CARD_TYPES = {0: CardType.CPS, 2: CardType.CPE, 3: CardType.CPA}


class CardAuthenticationError(SceauError):
    """A card certificate was refused; ``code`` names the check that failed."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message, ErrorKind.UNAUTHENTICATED)


@dataclass(frozen=True)
class CardIdentity:
    idnat: str
    family_name: str
    given_name: str
    card_type: CardType
    card_number: str
    profession_code: int | None
    title: str | None
    organisation: str | None
    organisation_id: str | None
    serial: str  # lower-case hex, as stored
    not_after: dt.datetime


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _read_tlv(data: bytes, tag: int) -> bytes:
    if len(data) < 2 or data[0] != tag:
        raise ValueError("unexpected tag")
    length = data[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[2 : 2 + count], "big")
        offset = 2 + count
    body = data[offset : offset + length]
    if len(body) != length or offset + length != len(data):
        raise ValueError("bad length")
    return body


def _private_value(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        extension = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    if isinstance(value, x509.UnrecognizedExtension):
        return value.value
    return None


def _find_issuer(cert: x509.Certificate, anchors: Sequence[x509.Certificate]) -> x509.Certificate:
    candidates = [ca for ca in anchors if ca.subject == cert.issuer]
    if not candidates:
        raise CardAuthenticationError(
            "card_foreign_ca",
            f"carte refusée: émise par une AC non reconnue ({cert.issuer.rfc4514_string()}); "
            "seules les AC Personnes de sceau sont acceptées",
        )
    for candidate in candidates:
        try:
            cert.verify_directly_issued_by(candidate)
            return candidate
        except (InvalidSignature, ValueError, TypeError):
            continue
    raise CardAuthenticationError(
        "card_bad_signature",
        "carte refusée: la signature du certificat ne vérifie pas avec la clé de l'AC "
        "dont il porte le nom (AC étrangère homonyme ou certificat altéré)",
    )


def _check_validity(cert: x509.Certificate, ca: x509.Certificate, at: dt.datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise CardAuthenticationError(
            "card_not_yet_valid",
            "carte refusée: certificat valide à partir du "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        )
    if at > cert.not_valid_after_utc:
        raise CardAuthenticationError(
            "card_expired",
            f"carte refusée: certificat expiré le {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
        )
    if not ca.not_valid_before_utc <= at <= ca.not_valid_after_utc:
        raise CardAuthenticationError(
            "card_ca_expired", "carte refusée: l'AC émettrice n'est pas en cours de validité"
        )


def _check_usages(cert: x509.Certificate) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise CardAuthenticationError(
                "card_is_ca", "carte refusée: un certificat d'AC n'authentifie personne"
            )
    except x509.ExtensionNotFound:
        pass
    try:
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not key_usage.digital_signature:
            raise CardAuthenticationError(
                "card_key_usage", "carte refusée: keyUsage digitalSignature absent"
            )
    except x509.ExtensionNotFound:
        raise CardAuthenticationError(
            "card_key_usage", "carte refusée: extension keyUsage absente"
        ) from None
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise CardAuthenticationError(
            "card_no_client_auth", "carte refusée: extension extKeyUsage (clientAuth) absente"
        ) from None
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise CardAuthenticationError(
            "card_no_client_auth",
            "carte refusée: le certificat n'a pas l'usage authentification client (clientAuth)",
        )


def _identity(cert: x509.Certificate) -> CardIdentity:
    subject = cert.subject
    idnat = _attribute(subject, NameOID.COMMON_NAME)
    family_name = _attribute(subject, NameOID.SURNAME)
    given_name = _attribute(subject, NameOID.GIVEN_NAME)
    if not idnat or not family_name or given_name is None:
        raise CardAuthenticationError(
            "card_subject", "carte refusée: le sujet ne porte pas CN (idNat), SN et GN"
        )
    product_type_der = _private_value(cert, PRODUCT_TYPE_OID)
    card_number_der = _private_value(cert, CARD_NUMBER_OID)
    if product_type_der is None or card_number_der is None:
        raise CardAuthenticationError(
            "card_extensions",
            "carte refusée: extensions ANS type de produit (1.2.250.1.71.1.2.2) et numéro de "
            "carte (1.2.250.1.71.1.2.3) attendues",
        )
    try:
        product_type = int.from_bytes(_read_tlv(product_type_der, 0x02), "big", signed=True)
        card_number = _read_tlv(card_number_der, 0x13).decode("ascii")
        profession_der = _private_value(cert, PROFESSION_OID)
        profession = (
            None
            if profession_der is None
            else int.from_bytes(_read_tlv(profession_der, 0x02), "big", signed=True)
        )
    except (ValueError, UnicodeDecodeError):
        raise CardAuthenticationError(
            "card_extensions", "carte refusée: extension ANS mal encodée"
        ) from None
    card_type = _CARD_TYPES.get(product_type)
    if card_type is None:
        raise CardAuthenticationError(
            "card_product_type", f"carte refusée: type de produit {product_type} non géré"
        )
    return CardIdentity(
        idnat=idnat,
        family_name=family_name,
        given_name=given_name,
        card_type=card_type,
        card_number=card_number,
        profession_code=profession,
        title=_attribute(subject, NameOID.TITLE),
        organisation=_attribute(subject, NameOID.ORGANIZATION_NAME),
        organisation_id=_attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        serial=format(cert.serial_number, "032x"),
        not_after=cert.not_valid_after_utc,
    )


def authenticate_card_certificate(
    cert: x509.Certificate,
    trust_anchors: Sequence[x509.Certificate],
    is_revoked: RevocationLookup,
    at: dt.datetime,
) -> CardIdentity:
    """The card's identity, or :class:`CardAuthenticationError` saying which check failed.

    ``trust_anchors`` are the issuing persons CAs (their own chain to the root was checked
    when they were created); ``at`` is the current instant (UTC, from the injected clock).
    """
    issuer = _find_issuer(cert, trust_anchors)
    _check_validity(cert, issuer, at)
    _check_usages(cert)
    if is_revoked(cert):
        raise CardAuthenticationError(
            "card_revoked",
            f"carte refusée: certificat révoqué (numéro de série {cert.serial_number:032x})",
        )
    return _identity(cert)
