"""Helpers for the order tests: the registry world, actors, openssl checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from registry_world import ADMIN_A, ADMIN_B, LEGAL, P1, P2, PHARMACIST, World, build_world

from sceau.registration.use_cases.request_certificates import RequestCommand, request_certificates
from sceau.registration.use_cases.retrieve_certificate import RetrieveCommand, retrieve_certificate

__all__ = ["ADMIN_A", "ADMIN_B", "LEGAL", "P1", "P2", "PHARMACIST", "World", "build_world"]

PASSWORD = "Officine-2026!"
CODE = "Revoc-Code-42"
EMAIL = "titulaire@pharmacie.example"
CC = "editeur@logiciel.example"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def order_online(services, actor, *, structure=P1, bundle=None, usage=None, cn="DMP", **extra):
    return request_certificates(
        services,
        RequestCommand(
            structure=structure,
            service_applicatif=cn,
            actor_email=EMAIL,
            cc_email=CC,
            actor=actor,
            bundle=bundle,
            usage=usage,
            generate_online=True,
            pkcs12_password=PASSWORD,
            **extra,
        ),
    )


def retrieve(services, actor, serial, *, password=PASSWORD, layout="ans", code=CODE, source=None):
    return retrieve_certificate(
        services,
        RetrieveCommand(
            serial=serial,
            revocation_code=code,
            revocation_code_confirmation=code,
            accept_terms=True,
            pkcs12_password=password,
            pkcs12_layout=layout,
            actor=actor,
            source=source,
        ),
    )


def openssl(*args: str, input: bytes | None = None) -> str:
    done = subprocess.run(["openssl", *args], input=input, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


def write(folder: Path, files) -> dict[str, Path]:
    """Write downloaded files; returns them by extension."""
    written = {}
    for item in files.files:
        path = folder / item.name
        path.write_bytes(item.content)
        written[item.name.rsplit(".", 1)[1]] = path
    return written


def check_files(
    folder: Path,
    written: dict[str, Path],
    *,
    cn: str,
    idnst: str,
    usage: str,
    password: str | None = PASSWORD,
    layout: str = "ans",
) -> None:
    """Open every file with openssl and check what a pharmacy's software relies on."""
    pem = written["pem"]
    blocks = pem.read_text().split("-----END CERTIFICATE-----")[:-1]
    assert len(blocks) == 3  # leaf, issuing CA, root
    leaf, issuing, root = (folder / n for n in ("leaf.pem", "issuing.pem", "root.pem"))
    for path, block in zip((leaf, issuing, root), blocks, strict=True):
        path.write_text(block.strip() + "\n-----END CERTIFICATE-----\n")
    assert "OK" in openssl("verify", "-CAfile", str(root), "-untrusted", str(issuing), str(leaf))
    subject = openssl("x509", "-in", str(leaf), "-noout", "-subject", "-nameopt", "RFC2253")
    assert f"CN={cn},OU={idnst}," in subject and subject.strip().endswith("C=FR")
    extensions = openssl("x509", "-in", str(leaf), "-noout", "-ext", "keyUsage,extendedKeyUsage")
    expected = {
        "AUTH_CLI": ("Digital Signature", "TLS Web Client Authentication"),
        "SIGN": ("Digital Signature, Non Repudiation", "E-mail Protection"),
    }[usage]
    for text in expected:
        assert text in extensions, extensions
    der_subject = openssl(
        "x509", "-inform", "DER", "-in", str(written["cer"]), "-noout", "-subject"
    )
    assert cn in der_subject
    p7 = openssl("pkcs7", "-inform", "DER", "-in", str(written["p7b"]), "-print_certs", "-noout")
    assert p7.count("subject=") == 3
    if password is None:
        assert "p12" not in written
        return
    p12 = written["p12"]
    assert p12.name.startswith("sceau-p12-TEST-ORG-" + usage + "-")
    info = openssl("pkcs12", "-in", str(p12), "-info", "-noout", "-passin", f"pass:{password}")
    if layout == "ans":
        assert "pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048" in info, info
        assert "MAC: sha1, Iteration 2048" in info, info
    else:
        assert "AES-256-CBC" in info and "MAC: sha256" in info, info
    key = folder / "key.pem"
    key.write_text(
        openssl("pkcs12", "-in", str(p12), "-nocerts", "-nodes", "-passin", f"pass:{password}")
    )
    certs = openssl("pkcs12", "-in", str(p12), "-nokeys", "-passin", f"pass:{password}")
    assert certs.count("BEGIN CERTIFICATE") == 3
    first = certs.split("-----END CERTIFICATE-----")[0]
    assert f"CN = {cn}" in first or f"CN={cn}" in first  # the leaf comes first
    key_pub = openssl("pkey", "-in", str(key), "-pubout")
    cert_pub = openssl("x509", "-in", str(leaf), "-noout", "-pubkey")
    assert key_pub.strip() == cert_pub.strip()  # the key matches the certificate
