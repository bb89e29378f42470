"""A small IGC-Santé-shaped hierarchy for client tests (RSA-2048 CA keys: fast)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.hierarchy import CaNaming
from sceau.pki.names import OrganisationSubject
from sceau.pki.profiles import PROFILES, IssuerPolicy, Usage, leaf_extensions

_KEYS: list[rsa.RSAPrivateKey] = []


def key(index: int) -> rsa.RSAPrivateKey:
    while len(_KEYS) <= index:
        _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[index]


@dataclass
class MiniCa:
    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    issuing: x509.Certificate
    issuing_key: rsa.RSAPrivateKey
    base_url: str = "http://127.0.0.1:9"
    revoked: list[int] = field(default_factory=list)

    @property
    def chain(self) -> list[x509.Certificate]:
        return [self.issuing, self.root]

    def policy(self) -> IssuerPolicy:
        return IssuerPolicy(
            policy_oid="1.2.250.1.213.1.7.2.1.1.1.1",
            cps_uri="http://igc-sante.esante.gouv.fr/PC%20TEST",
            crl_urls=(f"{self.base_url}/CRL/ACI-EL-ORG-TEST.crl",),
            delta_crl_urls=(),
            ocsp_url=f"{self.base_url}/ocsp-missing",
            ca_issuers_url=f"{self.base_url}/AC TEST/ACI-EL-ORG-TEST.cer",
            product_category=0x83,
        )

    def leaf(
        self,
        leaf_key: rsa.RSAPrivateKey,
        usage: Usage = Usage.AUTH_CLI,
        common_name: str = "INSI-AUTO",
        *,
        days: int = 3 * 365,
        start: dt.datetime | None = None,
    ) -> x509.Certificate:
        not_before = start or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        not_after = not_before + dt.timedelta(days=days)
        subject = OrganisationSubject("Rhône (69)", "PHARMACIE DU TEST", "10B0152872", common_name)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject.to_name())
            .issuer_name(self.issuing.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(self.issuing_key.public_key()).digest
        for extension, critical in leaf_extensions(
            PROFILES[usage], self.policy(), leaf_key.public_key(), ski, not_before, not_after
        ):
            builder = builder.add_extension(extension, critical)
        return builder.sign(self.issuing_key, hashes.SHA256())

    def crl(self) -> x509.CertificateRevocationList:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuing.subject)
            .last_update(now - dt.timedelta(minutes=1))
            .next_update(now + dt.timedelta(days=1))
        )
        for serial in self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - dt.timedelta(seconds=30))
                .build()
            )
        return builder.sign(self.issuing_key, hashes.SHA256())


def _ca(
    subject: x509.Name, ca_key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def make_ca(first_key: int = 0, organisation: str = "ASIP-SANTE") -> MiniCa:
    naming = CaNaming("test", organisation=organisation)
    root_name = naming.name("AC RACINE IGC-SANTE ELEMENTAIRE")
    issuing_name = naming.name("AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")
    root_key, issuing_key = key(first_key), key(first_key + 1)
    root = _ca(root_name, root_key, root_name, root_key)
    issuing = _ca(issuing_name, issuing_key, root_name, root_key)
    return MiniCa(root, root_key, issuing, issuing_key)
