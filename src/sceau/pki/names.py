"""Distinguished names as IGC-Santé writes them (domain.md §1.1, §2.2).

ORG/SERV subjects are ``C, ST, O, OU, CN`` in that DER order, one value per RDN,
UTF8String for everything except C (PrintableString).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from sceau.pki.errors import PolicyError

_UTF8 = x509.name._ASN1Type.UTF8String
_PRINTABLE = x509.name._ASN1Type.PrintableString

# Printable, no control characters; the PFC's free text is short and plain.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\u0080-\u009f\u200b-\u200f\u2028-\u202e\ufeff]")
MAX_RDN_LENGTH = 64  # RFC 5280 upper bound for CN, O, OU, ST


def _check_value(field: str, value: str, max_length: int = MAX_RDN_LENGTH) -> str:
    if not value or value.strip() != value:
        raise PolicyError(
            f"{field.lower()}_blank",
            f"{field}: la valeur ne doit pas être vide ni commencer ou finir par un espace",
        )
    if len(value) > max_length:
        raise PolicyError(
            f"{field.lower()}_too_long", f"{field}: {len(value)} caractères, maximum {max_length}"
        )
    if _FORBIDDEN.search(value):
        raise PolicyError(
            f"{field.lower()}_control_char", f"{field}: caractère de contrôle interdit"
        )
    if any(ord(c) > 0xFFFF for c in value):
        raise PolicyError(
            f"{field.lower()}_characters", f"{field}: caractère hors du plan multilingue de base"
        )
    return value


@dataclass(frozen=True)
class OrganisationSubject:
    """The subject of an ORG or SERV certificate; every field comes from the registry."""

    state: str  # e.g. "Rhône (69)"
    organisation: str  # raison sociale
    idnst: str  # OU: identifiant national de structure
    common_name: str  # service applicatif, or FQDN for SERV SSL

    def __post_init__(self) -> None:
        _check_value("ST", self.state, 128)
        _check_value("O", self.organisation)
        _check_value("OU", self.idnst)
        _check_value("CN", self.common_name)

    def to_name(self) -> x509.Name:
        return x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR", _PRINTABLE)]
                ),
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, self.state, _UTF8)]
                ),
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation, _UTF8)]
                ),
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, self.idnst, _UTF8)]
                ),
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(NameOID.COMMON_NAME, self.common_name, _UTF8)]
                ),
            ]
        )


def ca_name(
    common_name: str, organisation: str, organisation_identifier: str, range_ou: str
) -> x509.Name:
    """A CA name in IGC-Santé DER order: ``C, O, OU=<0002 SIREN>, OU=<IGC-SANTE[ TEST]>, CN``."""
    return x509.Name(
        [
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR", _PRINTABLE)]
            ),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation, _UTF8)]
            ),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(
                        NameOID.ORGANIZATIONAL_UNIT_NAME, organisation_identifier, _UTF8
                    )
                ]
            ),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, range_ou, _UTF8)]
            ),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COMMON_NAME, common_name, _UTF8)]
            ),
        ]
    )


def common_name_of(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


INSI_COMMON_NAMES = ("INSI-AUTO", "INSI-MANU")
SERVICE_APPLICATIF_MAX = 64
# Latin letters (accents of French included), digits, space and the punctuation seen in real
# CNs. Other scripts and look-alike letters (Cyrillic, mathematical alphanumerics) are refused.
_LETTER = "A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017f"
_SERVICE_APPLICATIF = re.compile(rf"^[{_LETTER}][{_LETTER} .'’()&+/:@,_-]*$")
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def validate_service_applicatif(value: str, *, insi: bool = False) -> str:
    """The CN of an ORG certificate.

    For INSi the CN must be exactly ``INSI-AUTO`` or ``INSI-MANU`` (upper case, hyphen, no
    space), otherwise the teleservice answers DESIR_560; anything else is refused here.
    """
    if insi:
        if value in INSI_COMMON_NAMES:
            return value
        hint = ""
        folded = value.strip().upper().replace(" ", "-").replace("_", "-")
        if folded in INSI_COMMON_NAMES:
            hint = f" (vouliez-vous dire {folded} ? majuscules, tiret, sans espace)"
        raise PolicyError(
            "insi_common_name",
            f"service applicatif {value!r} refusé pour l'INSi: le CN doit être exactement "
            f"INSI-AUTO (appels automatisés / batch) ou INSI-MANU (appels manuels){hint}; "
            "sinon le téléservice répond DESIR_560",
        )
    if not value or not value.strip():
        raise PolicyError("service_applicatif_blank", "le service applicatif est obligatoire")
    if value != value.strip() or "  " in value:
        raise PolicyError(
            "service_applicatif_spaces",
            "service applicatif: pas d'espace au début, à la fin ni d'espaces doubles",
        )
    if len(value) > SERVICE_APPLICATIF_MAX:
        raise PolicyError(
            "service_applicatif_too_long",
            f"service applicatif: {len(value)} caractères, maximum {SERVICE_APPLICATIF_MAX}",
        )
    if _FORBIDDEN.search(value) or not _SERVICE_APPLICATIF.match(value):
        raise PolicyError(
            "service_applicatif_characters",
            "service applicatif: seuls les lettres, chiffres, espaces et . ' ( ) & + / : @ , _ - "
            "sont acceptés",
        )
    return value


def validate_dns_name(value: str) -> str:
    """A host name for SERV SSL: lower-case LDH labels, at least two, no wildcard."""
    name = value.strip().lower().rstrip(".")
    if len(name) > 253 or "." not in name:
        raise PolicyError("dns_name_invalid", f"nom DNS {value!r} invalide: un FQDN est attendu")
    for label in name.split("."):
        if not _DNS_LABEL.match(label):
            raise PolicyError(
                "dns_name_invalid",
                f"nom DNS {value!r} invalide: étiquette {label!r} (lettres, chiffres, tirets)",
            )
    return name
