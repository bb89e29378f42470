"""Value objects of the issuance cycle; they validate on creation and never change."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.errors import PolicyError
from sceau.pki.names import OrganisationSubject, validate_dns_name, validate_service_applicatif
from sceau.pki.profiles import PROFILES, IssuerPolicy, Profile, Usage


@dataclass(frozen=True)
class IssuerContext:
    """An issuing CA as the core needs it: its certificate and the leaf policy it applies."""

    certificate: x509.Certificate
    policy: IssuerPolicy

    @property
    def key_identifier(self) -> bytes:
        ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return ski.value.digest


@dataclass(frozen=True)
class IssuanceRequest:
    usage: Usage
    subject: OrganisationSubject
    public_key: rsa.RSAPublicKey
    dns_names: tuple[str, ...] = ()
    insi: bool = False  # the certificate is for the INSi teleservice: CN rule applies

    def __post_init__(self) -> None:
        if self.usage is Usage.SERV_SSL:
            cn = validate_dns_name(self.subject.common_name)
            if cn != self.subject.common_name:
                raise PolicyError(
                    "dns_name_case", "le CN d'un certificat SERV SSL est un FQDN en minuscules"
                )
            names = tuple(dict.fromkeys((cn, *(validate_dns_name(n) for n in self.dns_names))))
            object.__setattr__(self, "dns_names", names)
        else:
            if self.dns_names:
                raise PolicyError(
                    "dns_names_not_allowed",
                    f"les noms DNS ne sont acceptés que pour SERV SSL, pas pour {self.usage.value}",
                )
            if self.insi and self.usage is not Usage.AUTH_CLI:
                raise PolicyError("insi_usage", "un certificat INSi est un certificat ORG AUTH_CLI")
            validate_service_applicatif(self.subject.common_name, insi=self.insi)

    @property
    def profile(self) -> Profile:
        return PROFILES[self.usage]


@dataclass(frozen=True)
class PreparedCertificate:
    """A linted to-be-signed certificate; ``tbs`` is what gets recorded and then signed."""

    serial: int
    tbs: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    request: IssuanceRequest
    lint_copy: x509.Certificate = field(repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "032x")
