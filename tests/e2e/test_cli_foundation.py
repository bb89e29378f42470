"""The operator CLI as a user runs it: fresh data directory, real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_csr

pytestmark = pytest.mark.e2e


def sceau(home: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCEAU_")}
    env["SCEAU_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "sceau.cli.main", *args],
        input=input.decode() if input else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_init_issue_show_and_errors(tmp_path, leaf_keys):
    home = tmp_path / "home"
    first = sceau(home, "init")
    assert first.returncode == 0, first.stderr
    assert "TEST AC RACINE IGC-SANTE ELEMENTAIRE" in first.stdout
    again = sceau(home, "init")  # idempotent: nothing created the second time
    assert again.returncode == 0 and "AC créée" not in again.stdout
    assert (home / "secrets" / "ca-passphrase").stat().st_mode & 0o777 == 0o600
    for key_file in (home / "keys").glob("*.key.pem"):
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()

    added = sceau(
        home,
        "structure",
        "add",
        "--finess",
        "0B0039137",
        "--name",
        "PHARMACIE DE LA GARE",
        "--department",
        "69",
    )
    assert added.returncode == 0, added.stderr
    assert "10B0039137" in added.stdout and "Rhône (69)" in added.stdout

    csr = tmp_path / "req.csr"
    csr.write_bytes(make_csr(leaf_keys[0]))
    out = tmp_path / "cert.pem"
    issued = sceau(
        home,
        "cert",
        "issue",
        "--structure",
        "0B0039137",
        "--usage",
        "auth_cli",
        "--service-applicatif",
        "INSI-AUTO",
        "--csr",
        str(csr),
        "--out",
        str(out),
    )
    assert issued.returncode == 0, issued.stderr
    serial = issued.stderr.split("numéro de série:")[1].split()[0]
    assert out.read_text().count("BEGIN CERTIFICATE") == 3  # leaf, issuing CA, root
    text = subprocess.run(
        ["openssl", "x509", "-in", str(out), "-noout", "-subject"], capture_output=True, text=True
    ).stdout
    assert "CN = INSI-AUTO" in text and "OU = 10B0039137" in text

    shown = sceau(home, "cert", "show", serial)
    assert shown.returncode == 0 and "INSI-AUTO" in shown.stdout and "issued" in shown.stdout

    # Errors: message on stderr, non-zero exit, nothing written.
    bad_cn = sceau(
        home,
        "cert",
        "issue",
        "--structure",
        "0B0039137",
        "--usage",
        "auth_cli",
        "--service-applicatif",
        "INSI AUTO",
        "--insi",
        "--csr",
        str(csr),
        "--out",
        str(tmp_path / "x.pem"),
    )
    assert bad_cn.returncode == 2 and "INSI-AUTO" in bad_cn.stderr
    assert not (tmp_path / "x.pem").exists()
    garbage = tmp_path / "garbage.csr"
    garbage.write_bytes(b"hello")
    bad_csr = sceau(
        home,
        "cert",
        "issue",
        "--structure",
        "0B0039137",
        "--usage",
        "sign",
        "--service-applicatif",
        "DMP",
        "--csr",
        str(garbage),
    )
    assert bad_csr.returncode == 2 and "csr_malformed" in bad_csr.stderr
    unknown = sceau(
        home,
        "cert",
        "issue",
        "--structure",
        "0B0000000",
        "--usage",
        "sign",
        "--service-applicatif",
        "DMP",
        "--csr",
        str(csr),
    )
    assert unknown.returncode == 3 and "inconnue" in unknown.stderr
    bad_finess = sceau(
        home, "structure", "add", "--finess", "010002302", "--name", "X", "--department", "01"
    )
    assert bad_finess.returncode == 2 and "010002302" in bad_finess.stderr
    missing = sceau(home, "cert", "show", "00ff")
    assert missing.returncode == 3
