"""``sceau client check``: chain, profile, INSi CN, dates, PKCS#12 layout and CRL status."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_pki import MiniCa, key, make_ca
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from sceau.client.check import CheckOptions, Level, check_certificate
from sceau.client.install import install_certificate
from sceau.pki.profiles import Usage


@pytest.fixture(scope="module")
def ca() -> MiniCa:
    return make_ca()


@pytest.fixture(scope="module")
def foreign() -> MiniCa:
    return make_ca(first_key=2, organisation="AUTRE AC")


def _options(ca: MiniCa, **overrides: object) -> CheckOptions:
    # Applications ship ACR-EL + ACI-EL-ORG as their trust store (domain.md §15).
    values: dict[str, object] = {
        "trust_anchors": (ca.issuing, ca.root),
        "revocation": "none",
        "fetch_issuers": False,
    }
    values.update(overrides)
    return CheckOptions(**values)  # type: ignore[arg-type]


def _errors(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.check: f.message for f in report.findings if f.level is Level.ERROR}


def test_installed_certificate_passes(ca: MiniCa, tmp_path: Path) -> None:
    install_certificate(tmp_path, "insi", key(4), ca.leaf(key(4)), ca.chain)
    report = check_certificate(tmp_path / "insi", _options(ca))
    assert report.verdict is Level.OK, report.findings
    assert report.usage is Usage.AUTH_CLI
    checks = {f.check for f in report.findings}
    assert {"fichier", "clé", "pkcs12", "chaîne", "profil", "insi", "validité"} <= checks


def test_wrong_insi_common_name_fails_with_the_rule(ca: MiniCa, tmp_path: Path) -> None:
    install_certificate(
        tmp_path, "insi", key(4), ca.leaf(key(4), common_name="Insi-Auto"), ca.chain
    )
    report = check_certificate(tmp_path / "insi", _options(ca))
    assert report.verdict is Level.ERROR
    assert "INSI-AUTO" in _errors(report)["insi"] and "DESIR_560" in _errors(report)["insi"]


def test_insi_flag_on_a_dmp_name_fails(ca: MiniCa, tmp_path: Path) -> None:
    path = tmp_path / "dmp.pem"
    path.write_bytes(ca.leaf(key(4), common_name="DMP").public_bytes(serialization.Encoding.PEM))
    report = check_certificate(path, _options(ca, insi=True))
    assert "insi" in _errors(report)


def test_foreign_chain_fails(ca: MiniCa, foreign: MiniCa, tmp_path: Path) -> None:
    install_certificate(tmp_path, "insi", key(4), foreign.leaf(key(4)), foreign.chain)
    report = check_certificate(tmp_path / "insi", _options(ca))
    assert report.verdict is Level.ERROR
    assert "aucune AC de confiance" in _errors(report)["chaîne"]


def test_expired_and_expiring(ca: MiniCa, tmp_path: Path) -> None:
    expired = tmp_path / "expired.pem"
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    expired.write_bytes(
        ca.leaf(key(4), days=10, start=start).public_bytes(serialization.Encoding.PEM)
    )
    assert "expiré" in _errors(check_certificate(expired, _options(ca)))["validité"]
    soon = tmp_path / "soon.pem"
    soon.write_bytes(ca.leaf(key(4), days=12).public_bytes(serialization.Encoding.PEM))
    report = check_certificate(soon, _options(ca))
    assert report.verdict is Level.WARNING
    assert any(f.check == "validité" and f.level is Level.WARNING for f in report.findings)


def test_pkcs12_with_chain_first_and_aes_is_reported(ca: MiniCa, tmp_path: Path) -> None:
    # cryptography's default writer: AES-256, SHA-256 MAC, certificates encrypted.
    leaf = ca.leaf(key(4))
    data = pkcs12.serialize_key_and_certificates(
        b"x", key(4), leaf, ca.chain, serialization.BestAvailableEncryption(b"pw")
    )
    path = tmp_path / "modern.p12"
    path.write_bytes(data)
    report = check_certificate(path, _options(ca, passwords=(b"pw",)))
    assert any(f.check == "pkcs12" and f.level is Level.WARNING for f in report.findings)
    wrong = check_certificate(path, _options(ca, passwords=(b"nope",)))
    assert "mot de passe" in _errors(wrong)["fichier"]


def test_key_mismatch_in_pem(ca: MiniCa, tmp_path: Path) -> None:
    path = tmp_path / "pair.pem"
    path.write_bytes(
        key(5).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + ca.leaf(key(4)).public_bytes(serialization.Encoding.PEM)
    )
    assert "ne correspond pas" in _errors(check_certificate(path, _options(ca)))["clé"]


def test_ca_certificate_is_not_an_org_profile(ca: MiniCa, tmp_path: Path) -> None:
    path = tmp_path / "ca.der"
    path.write_bytes(ca.issuing.public_bytes(serialization.Encoding.DER))
    assert "profil" in _errors(check_certificate(path, _options(ca)))


@pytest.fixture
def crl_server(ca: MiniCa) -> Iterator[MiniCa]:
    """Serve the mini CA's CRL over HTTP on a free port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = ca.crl().public_bytes(serialization.Encoding.DER)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    previous = ca.base_url
    ca.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield ca
    finally:
        ca.base_url = previous
        ca.revoked.clear()
        server.shutdown()
        server.server_close()


def test_revocation_by_crl(crl_server: MiniCa, tmp_path: Path) -> None:
    ca = crl_server
    good = ca.leaf(key(4))
    revoked = ca.leaf(key(5))
    ca.revoked.append(revoked.serial_number)
    for name, certificate in (("good.pem", good), ("revoked.pem", revoked)):
        (tmp_path / name).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    # The OCSP URL answers nothing: "auto" falls back to the CRL.
    ok = check_certificate(tmp_path / "good.pem", _options(ca, revocation="auto", timeout=2.0))
    assert any(
        f.check == "révocation" and f.level is Level.OK and "CRL" in f.message for f in ok.findings
    )
    bad = check_certificate(tmp_path / "revoked.pem", _options(ca, revocation="crl"))
    assert "RÉVOQUÉ" in _errors(bad)["révocation"]


def test_unreachable_revocation_is_a_warning(ca: MiniCa, tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_bytes(ca.leaf(key(4)).public_bytes(serialization.Encoding.PEM))
    report = check_certificate(tmp_path / "c.pem", _options(ca, revocation="auto", timeout=1.0))
    assert any(f.check == "révocation" and f.level is Level.WARNING for f in report.findings)


def test_leaf_alone_with_only_the_root_pinned_is_an_incomplete_chain(
    ca: MiniCa, tmp_path: Path
) -> None:
    (tmp_path / "c.pem").write_bytes(ca.leaf(key(4)).public_bytes(serialization.Encoding.PEM))
    report = check_certificate(tmp_path / "c.pem", _options(ca, trust_anchors=(ca.root,)))
    assert "chaîne" in _errors(report)
