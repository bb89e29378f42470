"""OpenSSL as the outside validator: CRL checking with ``openssl verify``, and a real
``sceau serve`` answering ``openssl ocsp`` before and after ``sceau cert revoke``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from pki_e2e import ORG, ROOT, add_pharmacy, free_port, issue, run, write_crls, write_key, write_pem

from conftest import PASS_PHRASE
from sceau.registration.use_cases.revocation_status import publish_revocation_status
from sceau.registration.use_cases.revoke_certificate import RevokeCommand, revoke_certificate

pytestmark = pytest.mark.e2e

SERVER_START_SECONDS = 60
REVOCATION_VISIBLE_SECONDS = 60  # the promise: a revocation shows in OCSP within a minute


def verify(folder: Path, root_crl: Path, org_crl: Path) -> subprocess.CompletedProcess[str]:
    return run(
        "openssl", "verify", "-crl_check_all",
        "-CAfile", folder / "root.pem", "-untrusted", folder / "org.pem",
        "-CRLfile", root_crl, "-CRLfile", org_crl,
        folder / "leaf.pem",
    )  # fmt: skip


@pytest.fixture
def client_certificate(services, leaf_keys, tmp_path):
    """An AUTH_CLI certificate, its key and chain as files, with CRLs and OCSP published."""
    add_pharmacy(services)
    issued = issue(services, leaf_keys[0])
    org, root = issued.chain
    write_pem(tmp_path / "leaf.pem", issued.certificate)
    write_key(tmp_path / "key.pem", leaf_keys[0])
    write_pem(tmp_path / "org.pem", org)
    write_pem(tmp_path / "root.pem", root)
    write_pem(tmp_path / "chain.pem", org, root)
    publish_revocation_status(services)
    return issued


def test_openssl_verify_checks_our_crls(services, client_certificate, tmp_path):
    accepted = verify(tmp_path, *write_crls(services, tmp_path))
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.strip().endswith("leaf.pem: OK")

    revoke_certificate(
        services,
        RevokeCommand(serial=client_certificate.serial, reason=x509.ReasonFlags.key_compromise),
    )
    publish_revocation_status(services)
    refused = verify(tmp_path, *write_crls(services, tmp_path))
    assert refused.returncode != 0
    assert "certificate revoked" in refused.stdout + refused.stderr


def _sceau_env(services) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCEAU_")}
    env["SCEAU_HOME"] = str(services.settings.home)
    env["SCEAU_DATABASE_URL"] = services.settings.resolved_database_url
    env["SCEAU_CA_PASSPHRASE"] = PASS_PHRASE
    return env


@pytest.fixture
def served(services, tmp_path):
    """``sceau serve`` on a free port of 127.0.0.1, on the test's database; its base URL."""
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sceau.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=_sceau_env(services),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "sceau serve did not start in time"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def openssl_ocsp(folder: Path, base: str) -> str:
    answer = run(
        "openssl", "ocsp",
        "-issuer", folder / "org.pem", "-cert", folder / "leaf.pem",
        "-url", f"{base}/ocsp", "-CAfile", folder / "chain.pem",
    )  # fmt: skip
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "Response verify OK" in answer.stderr, answer.stderr
    return answer.stdout


def test_served_ocsp_and_crl_follow_a_cli_revocation(
    services, client_certificate, served, tmp_path
):
    assert f"{tmp_path / 'leaf.pem'}: good" in openssl_ocsp(tmp_path, served)

    revoked = subprocess.run(
        [sys.executable, "-m", "sceau.cli.main", "cert", "revoke", client_certificate.serial,
         "--reason", "keyCompromise"],
        env=_sceau_env(services), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr

    deadline = time.monotonic() + REVOCATION_VISIBLE_SECONDS
    while True:
        answer = openssl_ocsp(tmp_path, served)
        if ": revoked" in answer:
            break
        assert ": good" in answer, answer
        assert time.monotonic() < deadline, "the revocation did not reach OCSP in time"
        time.sleep(0.5)
    assert "Reason: keyCompromise" in answer

    # The CRLs as a relying party downloads them from the URLs in the certificates.
    for stem, name in ((ORG, "org.crl"), (ROOT, "root.crl")):
        response = httpx.get(f"{served}/CRL/{stem}.crl", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pkix-crl"
        (tmp_path / name).write_bytes(response.content)
    checked = run(
        "openssl", "crl", "-inform", "DER", "-in", tmp_path / "org.crl",
        "-CAfile", tmp_path / "chain.pem", "-noout", "-text",
    )  # fmt: skip
    assert checked.returncode == 0 and "verify OK" in checked.stderr, checked.stderr
    assert client_certificate.serial.upper() in checked.stdout.replace(":", "").upper()
    assert "Key Compromise" in checked.stdout
    pem = tmp_path / "pem"
    pem.mkdir()
    for name in ("org.crl", "root.crl"):
        converted = run(
            "openssl", "crl", "-inform", "DER", "-in", tmp_path / name, "-out", pem / name
        )
        assert converted.returncode == 0, converted.stderr
    refused = verify(tmp_path, pem / "root.crl", pem / "org.crl")
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr

    ca_certificate = httpx.get(f"{served}/AC%20TEST/{ORG}.cer", timeout=10)
    assert ca_certificate.status_code == 200
    assert x509.load_der_x509_certificate(ca_certificate.content) == client_certificate.chain[0]
