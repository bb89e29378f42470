"""``sceau client install``: atomic release switch, owner-only files, rollback, ANS PKCS#12."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from client_pki import key, make_ca

from sceau.client.install import (
    P12_NAME,
    current_release,
    install_certificate,
    rollback,
)
from sceau.pki.errors import SceauError
from sceau.pki.pkcs12 import load_pkcs12


@pytest.fixture(scope="module")
def ca():  # type: ignore[no-untyped-def]
    return make_ca()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_writes_pem_and_ans_pkcs12_owner_only(ca, tmp_path: Path) -> None:
    leaf_key = key(4)
    certificate = ca.leaf(leaf_key)
    installed = install_certificate(
        tmp_path / "certs", "insi-auto", leaf_key, certificate, ca.chain, password=b"secret"
    )
    current = tmp_path / "certs" / "insi-auto" / "current"
    assert current.is_symlink() and current.resolve() == installed.release.resolve()
    names = {p.name for p in current.iterdir()}
    assert {"key.pem", "cert.pem", "chain.pem", "fullchain.pem", P12_NAME, "meta.json"} <= names
    for file in current.iterdir():
        assert _mode(file) == 0o600, file
    assert _mode(tmp_path / "certs" / "insi-auto") == 0o700
    assert _mode(installed.release) == 0o700
    # Leaf first, then the issuing CA, then the root; key matches.
    p12 = (current / P12_NAME).read_bytes()
    loaded_key, loaded_cert, chain = load_pkcs12(p12, b"secret")
    assert loaded_cert == certificate and chain == ca.chain
    assert loaded_key.public_key() == certificate.public_key()
    # OpenSSL 3 (default provider, no -legacy) reads it and sees the ANS algorithms.
    info = subprocess.run(
        [
            "openssl",
            "pkcs12",
            "-info",
            "-noout",
            "-in",
            str(current / P12_NAME),
            "-passin",
            "pass:secret",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr
    assert "MAC: sha1" in info.stderr
    meta = json.loads((current / "meta.json").read_text())
    assert meta["serial"] == format(certificate.serial_number, "032x")


def test_reinstall_keeps_previous_and_rolls_back(ca, tmp_path: Path) -> None:
    target = tmp_path / "certs"
    first = install_certificate(
        target, "dmp-auth", key(4), ca.leaf(key(4), common_name="DMP"), ca.chain
    )
    second_cert = ca.leaf(key(5), common_name="DMP")
    second = install_certificate(target, "dmp-auth", key(5), second_cert, ca.chain)
    assert second.previous == first.release.resolve()
    assert (target / "dmp-auth" / "previous").resolve() == first.release.resolve()
    restored = rollback(target, "dmp-auth")
    assert restored == first.release.resolve()
    assert current_release(target, "dmp-auth") == first.release.resolve()
    # A third install removes releases that are neither current nor previous.
    third = install_certificate(
        target, "dmp-auth", key(6), ca.leaf(key(6), common_name="DMP"), ca.chain
    )
    kept = {p.resolve() for p in (target / "dmp-auth" / "releases").iterdir()}
    assert kept == {third.release.resolve(), first.release.resolve()}


def test_install_refuses_a_key_that_does_not_match(ca, tmp_path: Path) -> None:
    certificate = ca.leaf(key(4))
    with pytest.raises(SceauError) as caught:
        install_certificate(tmp_path, "x", key(5), certificate, ca.chain)
    assert caught.value.code == "install_key_mismatch"
    assert not (tmp_path / "x" / "current").exists()


def test_rollback_without_previous_is_a_clear_error(ca, tmp_path: Path) -> None:
    install_certificate(tmp_path, "only", key(4), ca.leaf(key(4)), ca.chain)
    with pytest.raises(SceauError) as caught:
        rollback(tmp_path, "only")
    assert caught.value.code == "no_previous_certificate"
