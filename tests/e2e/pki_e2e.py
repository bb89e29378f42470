"""Helpers shared by the end-to-end revocation tests: certificates and CRLs as files."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import make_csr
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.issue_certificate import (
    IssueCommand,
    IssuedCertificate,
    issue_certificate,
)
from sceau.registration.use_cases.revocation_status import latest_crl
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure

ORG = "ACI-EL-ORG-TEST"
ROOT = "ACR-EL-TEST"
FINESS = "690000880"


def add_pharmacy(services) -> None:
    add_structure(
        services,
        AddStructureCommand(
            finess=FINESS, raison_sociale="PHARMACIE DES TERREAUX", department="69"
        ),
    )


def issue(
    services,
    key: rsa.RSAPrivateKey,
    usage: Usage = Usage.AUTH_CLI,
    name: str = "LGO-E2E",
    dns_names: tuple[str, ...] = (),
) -> IssuedCertificate:
    return issue_certificate(
        services,
        IssueCommand(
            structure=FINESS,
            usage=usage,
            service_applicatif=name,
            csr=make_csr(key),
            dns_names=dns_names,
        ),
        use_pkilint=False,
    )


def write_pem(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates))
    return path


def write_key(path: Path, key: rsa.RSAPrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def crl_pem(services, stem: str) -> bytes:
    published = latest_crl(services, stem, delta=False)
    assert published is not None, f"no CRL published for {stem}"
    return x509.load_der_x509_crl(published.der).public_bytes(serialization.Encoding.PEM)


def write_crls(services, folder: Path) -> tuple[Path, Path]:
    """The root's and the organisations CA's latest full CRLs, as PEM files."""
    root = folder / "root.crl"
    org = folder / "org.crl"
    root.write_bytes(crl_pem(services, ROOT))
    org.write_bytes(crl_pem(services, ORG))
    return root, org


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )
