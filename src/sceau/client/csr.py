"""CSRs made by the client for one usage, with the IGC-Santé naming rules checked first.

The CA takes only the public key and imposes the subject from its registry (domain.md §11),
but the CN typed here *is* the "service applicatif" the order carries, so the INSi rule
(``INSI-AUTO`` / ``INSI-MANU`` exactly, domain.md §3) is enforced before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sceau.pki.errors import PolicyError
from sceau.pki.names import validate_dns_name, validate_service_applicatif
from sceau.pki.profiles import Usage


@dataclass(frozen=True)
class CsrRequest:
    """What one certificate of an order needs: its usage, CN and naming constraints."""

    usage: Usage
    common_name: str
    insi: bool = False
    dns_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_naming(self.usage, self.common_name, insi=self.insi, dns_names=self.dns_names)


def check_naming(
    usage: Usage, common_name: str, *, insi: bool = False, dns_names: tuple[str, ...] = ()
) -> None:
    """Raise ``PolicyError`` when the CN breaks a rule of its usage (INSi, SERV SSL FQDN)."""
    if insi and usage is not Usage.AUTH_CLI:
        raise PolicyError(
            "insi_usage",
            f"un certificat INSi est un ORG AUTH_CLI (authentification TLS), pas {usage.value}",
        )
    if usage is Usage.SERV_SSL:
        validate_dns_name(common_name)
        for name in dns_names:
            validate_dns_name(name)
        return
    if dns_names:
        raise PolicyError("dns_names_not_allowed", "seul un certificat SERV SSL porte des noms DNS")
    if not insi and common_name.strip().upper().replace(" ", "-").replace("_", "-") in (
        "INSI-AUTO",
        "INSI-MANU",
    ):
        insi = True  # a CN that looks like INSi must be exactly right
    validate_service_applicatif(common_name, insi=insi)


def build_csr(key: rsa.RSAPrivateKey, request: CsrRequest) -> bytes:
    """A PEM PKCS#10 request signed with ``key`` (proof of possession), subject ``CN=<cn>``."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, request.common_name)])
    )
    if request.dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in request.dns_names]),
            critical=False,
        )
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)
