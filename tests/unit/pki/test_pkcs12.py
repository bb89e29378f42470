"""PKCS#12 writing in the ANS layout and the modern one, checked with OpenSSL 3 and cryptography."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import NameOID

from sceau.pki.pkcs12 import (
    Pkcs12Error,
    ans_legacy_pkcs12,
    load_pkcs12,
    modern_pkcs12,
    pkcs12_filename,
    pkcs12_kdf,
)

PASSWORD = "Pharmacie-été 2026".encode()  # non-ASCII: BMPString and UTF-8 must agree
Writer = Callable[..., bytes]


@dataclass(frozen=True)
class Hierarchy:
    root: x509.Certificate
    issuing_ca: x509.Certificate
    leaf: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    other_key: rsa.RSAPrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sceau tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def hierarchy() -> Hierarchy:
    root_key, ca_key, leaf_key = (rsa.generate_private_key(65537, 2048) for _ in range(3))
    root = _certificate("Test Root", root_key, _name("Test Root"), root_key, ca=True)
    issuing_ca = _certificate("Test ACI ORG", ca_key, root.subject, root_key, ca=True)
    leaf = _certificate("INSI-AUTO", leaf_key, issuing_ca.subject, ca_key, ca=False)
    return Hierarchy(root, issuing_ca, leaf, leaf_key, ca_key)


LAYOUTS = {
    "legacy": (
        ans_legacy_pkcs12,
        "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
        "MAC: sha1, Iteration 2048",
    ),
    "modern": (
        modern_pkcs12,
        "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256",
        "MAC: sha256, Iteration 10000",
    ),
}


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def layout(request: pytest.FixtureRequest) -> tuple[Writer, str, str]:
    return LAYOUTS[request.param]


@pytest.fixture
def p12_file(tmp_path: Path, hierarchy: Hierarchy, layout: tuple[Writer, str, str]) -> Path:
    writer = layout[0]
    # The chain is given root first on purpose: the file must still be leaf, CA, root.
    data = writer(
        hierarchy.leaf_key, hierarchy.leaf, [hierarchy.root, hierarchy.issuing_ca], PASSWORD
    )
    path = tmp_path / "bundle.p12"
    path.write_bytes(data)
    return path


def openssl_pkcs12(path: Path, *args: str, password: str = PASSWORD.decode()) -> str:
    """Run ``openssl pkcs12`` (default provider, never ``-legacy``); stdout + stderr."""
    result = subprocess.run(
        ["openssl", "pkcs12", "-in", str(path), "-passin", f"pass:{password}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def pem_certificates(text: str) -> list[x509.Certificate]:
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return [x509.load_pem_x509_certificate(block.encode()) for block in blocks]


def test_openssl_reports_the_expected_algorithms(
    p12_file: Path, layout: tuple[Writer, str, str]
) -> None:
    _, key_bag_line, mac_line = layout
    info = openssl_pkcs12(p12_file, "-info", "-noout")
    lines = [line.strip() for line in info.splitlines()]
    assert mac_line in lines
    assert key_bag_line in lines
    # Two safes stored in clear: the certificate safe and the (shrouded) key safe.
    assert lines.count("PKCS7 Data") == 2
    assert "PKCS7 Encrypted data" not in info
    assert lines.count("Certificate bag") == 3


def test_certificates_are_readable_without_the_password(
    p12_file: Path, hierarchy: Hierarchy
) -> None:
    text = openssl_pkcs12(p12_file, "-nokeys", "-nomacver", password="")
    assert pem_certificates(text) == [hierarchy.leaf, hierarchy.issuing_ca, hierarchy.root]


def test_only_key_and_leaf_carry_a_local_key_id(p12_file: Path) -> None:
    text = openssl_pkcs12(p12_file, "-nodes")
    attributes = re.findall(r"Bag Attributes(.*?)-----BEGIN (\w[\w ]*)-----", text, re.S)
    assert [kind for _, kind in attributes] == [
        "CERTIFICATE",
        "CERTIFICATE",
        "CERTIFICATE",
        "PRIVATE KEY",
    ]
    key_ids = [re.search(r"localKeyID: ([0-9A-F ]+)", block) for block, _ in attributes]
    assert key_ids[0] is not None and key_ids[3] is not None
    assert key_ids[0].group(1) == key_ids[3].group(1)
    assert key_ids[1] is None and key_ids[2] is None
    assert "friendlyName" not in text


def test_openssl_decrypts_a_key_that_matches_the_leaf(p12_file: Path, tmp_path: Path) -> None:
    text = openssl_pkcs12(p12_file, "-nodes")
    key_pem = re.search(r"-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----", text, re.S)
    assert key_pem is not None
    key_path, cert_path = tmp_path / "key.pem", tmp_path / "leaf.pem"
    key_path.write_text(key_pem.group(0) + "\n")
    cert_path.write_bytes(pem_certificates(text)[0].public_bytes(Encoding.PEM))

    def modulus(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    key_modulus = modulus("openssl", "rsa", "-in", str(key_path), "-noout", "-modulus")
    cert_modulus = modulus("openssl", "x509", "-in", str(cert_path), "-noout", "-modulus")
    assert key_modulus.startswith("Modulus=")
    assert key_modulus == cert_modulus


def test_cryptography_reads_the_file(p12_file: Path, hierarchy: Hierarchy) -> None:
    key, certificate, chain = pkcs12.load_key_and_certificates(p12_file.read_bytes(), PASSWORD)
    assert certificate == hierarchy.leaf
    assert chain == [hierarchy.issuing_ca, hierarchy.root]
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.private_numbers() == hierarchy.leaf_key.private_numbers()


def test_load_pkcs12_returns_key_leaf_and_chain(p12_file: Path, hierarchy: Hierarchy) -> None:
    key, certificate, chain = load_pkcs12(p12_file.read_bytes(), PASSWORD)
    assert certificate == hierarchy.leaf
    assert chain == [hierarchy.issuing_ca, hierarchy.root]
    assert key.public_key() == hierarchy.leaf.public_key()


def test_wrong_password_is_refused(p12_file: Path) -> None:
    for password in (b"wrong", b"", PASSWORD.upper()):
        with pytest.raises(Pkcs12Error) as caught:
            load_pkcs12(p12_file.read_bytes(), password)
        assert caught.value.code == "pkcs12_bad_password"


def test_damaged_files_are_reported_as_malformed(p12_file: Path) -> None:
    data = p12_file.read_bytes()
    for damaged in (data[:-7], data[:100], b"not a pkcs12 file", b""):
        with pytest.raises(Pkcs12Error) as caught:
            load_pkcs12(damaged, PASSWORD)
        assert caught.value.code == "pkcs12_malformed"


def test_friendly_name_on_request(
    tmp_path: Path, hierarchy: Hierarchy, layout: tuple[Writer, str, str]
) -> None:
    data = layout[0](
        hierarchy.leaf_key,
        hierarchy.leaf,
        [hierarchy.issuing_ca, hierarchy.root],
        PASSWORD,
        friendly_name="INSi — Pharmacie".encode(),
    )
    loaded = pkcs12.load_pkcs12(data, PASSWORD)
    assert loaded.cert is not None
    assert loaded.cert.friendly_name == "INSi — Pharmacie".encode()
    assert [c.friendly_name for c in loaded.additional_certs] == [None, None]
    path = tmp_path / "named.p12"
    path.write_bytes(data)
    # OpenSSL 3.0 prints BMPString names byte-truncated: compare only the ASCII head.
    assert openssl_pkcs12(path, "-nodes").count("friendlyName: INSi ") == 2


def test_each_file_uses_fresh_salts(hierarchy: Hierarchy, layout: tuple[Writer, str, str]) -> None:
    chain = [hierarchy.issuing_ca, hierarchy.root]
    first = layout[0](hierarchy.leaf_key, hierarchy.leaf, chain, PASSWORD)
    second = layout[0](hierarchy.leaf_key, hierarchy.leaf, chain, PASSWORD)
    assert first != second


def test_key_must_match_the_certificate(hierarchy: Hierarchy) -> None:
    with pytest.raises(Pkcs12Error) as caught:
        ans_legacy_pkcs12(hierarchy.other_key, hierarchy.leaf, [hierarchy.issuing_ca], PASSWORD)
    assert caught.value.code == "pkcs12_key_mismatch"


def test_chain_must_be_the_path_to_the_root(hierarchy: Hierarchy) -> None:
    with pytest.raises(Pkcs12Error) as caught:
        # The leaf's own issuer is missing: the root does not continue the path.
        modern_pkcs12(hierarchy.leaf_key, hierarchy.leaf, [hierarchy.root], PASSWORD)
    assert caught.value.code == "pkcs12_chain_unrelated"
    assert "Test Root" in caught.value.message


def test_chain_may_stop_below_the_root(hierarchy: Hierarchy) -> None:
    data = ans_legacy_pkcs12(hierarchy.leaf_key, hierarchy.leaf, [hierarchy.issuing_ca], PASSWORD)
    assert load_pkcs12(data, PASSWORD)[2] == [hierarchy.issuing_ca]


def test_empty_or_non_utf8_password_is_refused(hierarchy: Hierarchy) -> None:
    for password, code in (
        (b"", "pkcs12_password_empty"),
        (b"\xff\xfe", "pkcs12_password_encoding"),
    ):
        with pytest.raises(Pkcs12Error) as caught:
            ans_legacy_pkcs12(hierarchy.leaf_key, hierarchy.leaf, [], password)
        assert caught.value.code == code


@pytest.mark.parametrize(
    ("password", "salt", "iterations", "key", "iv"),
    [
        ("smeg", "0A58CF64530D823F", 1, "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3",
         "79993DFE048D3B76"),
        ("queeg", "1682C0FC5B3F7EC5", 1000, "483DD6E919D7DE2E8E648BA8F862F3FBFBDC2BCB2C02957F",
         "9D461D1B00355C50"),
    ],
)  # fmt: skip
def test_pkcs12_kdf_against_published_vectors(
    password: str, salt: str, iterations: int, key: str, iv: str
) -> None:
    # The classic PKCS#12 KDF vectors (SHA-1, 3DES key and IV) used by OpenSSL and BouncyCastle.
    bmp = password.encode("utf-16-be") + b"\x00\x00"
    salt_bytes = bytes.fromhex(salt)
    assert pkcs12_kdf(hashes.SHA1(), bmp, salt_bytes, 1, iterations, 24) == bytes.fromhex(key)
    assert pkcs12_kdf(hashes.SHA1(), bmp, salt_bytes, 2, iterations, 8) == bytes.fromhex(iv)


@pytest.mark.parametrize(
    ("environment", "usage", "expected"),
    [
        ("test", "AUTH_CLI", "sceau-p12-TEST-ORG-AUTH_CLI-20261129-103506.p12"),
        ("prod", "SIGN", "sceau-p12-PROD-ORG-SIGN-20261129-103506.p12"),
        ("TEST", "conf", "sceau-p12-TEST-ORG-CONF-20261129-103506.p12"),
        ("test", "SERV_SSL", "sceau-p12-TEST-SERV-SSL_SERV-20261129-103506.p12"),
    ],
)
def test_filename(environment: str, usage: str, expected: str) -> None:
    at = dt.datetime(2026, 11, 29, 10, 35, 6, tzinfo=dt.UTC)
    assert pkcs12_filename(environment, usage, at) == expected


def test_filename_refuses_unknown_values() -> None:
    at = dt.datetime(2026, 11, 29, 10, 35, 6)
    with pytest.raises(Pkcs12Error) as caught:
        pkcs12_filename("staging", "SIGN", at)
    assert caught.value.code == "unknown_environment"
    with pytest.raises(Pkcs12Error) as caught:
        pkcs12_filename("test", "S/MIME", at)
    assert caught.value.code == "unknown_usage"
