"""The registry commands end to end: CliRunner on the test container, and one real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from registry_world import LEGAL, PHARMACIST, VENDOR_A, rpps_idnat
from typer.testing import CliRunner

import sceau.cli.common as common
from sceau.cli.main import app
from sceau.registration.finess_extract import generate_extract

ADMIN = f"4{VENDOR_A}/CPAT0001"


@pytest.fixture
def cli(services, monkeypatch):
    monkeypatch.setattr(common, "_container", services)
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    return run


def test_registry_workflow(cli, services, tmp_path):
    cli(
        "structure",
        "add",
        "--finess",
        "010002301",
        "--name",
        "PHARMACIE VOLLENWEIDER",
        "--department",
        "01",
    )
    assert "Ain (01)" in cli("structure", "show", "010002301").stdout
    cli(
        "vendor",
        "add",
        "--siren",
        VENDOR_A,
        "--name",
        "LOGICIEL OFFICINE SA",
        "--department",
        "69",
        "--contract-signed",
        "2026-01-05",
    )
    cli(
        "person",
        "add",
        "--idnat",
        ADMIN,
        "--family-name",
        "Martin",
        "--given-name",
        "Alice",
        "--email",
        "alice@logiciel.example",
        "--vendor",
        VENDOR_A,
    )
    out = tmp_path / "alice.p12"
    issued = cli(
        "card", "issue", "--person", ADMIN, "--type", "CPA", "--form", "301", "--out", str(out)
    )
    password = issued.stdout.split("mot de passe du PKCS#12: ")[1].strip()
    key, certificate, _ = pkcs12.load_key_and_certificates(out.read_bytes(), password.encode())
    assert key is not None and ADMIN in certificate.subject.rfc4514_string()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    card_number = issued.stdout.split("carte CPA ")[1].split(" ")[0]
    cli(
        "habilitation",
        "request",
        "--structure",
        "010002301",
        "--status",
        "éditeur",
        "--name",
        "Alice MARTIN",
        "--card",
        card_number,
        "--email",
        "alice@logiciel.example",
    )
    assert "Alice MARTIN" in cli("habilitation", "list", "--pending").stdout
    with services.unit_of_work() as uow:
        request_id = uow.habilitations.requests(status="pending")[0].id
    assert "habilité" in cli("habilitation", "approve", str(request_id)).stdout
    listing = cli("habilitation", "list").stdout
    assert ADMIN in listing and "1010002301" in listing
    assert "administrateur technique (editeur)" in cli("structure", "show", "010002301").stdout
    assert "PHARMACIE VOLLENWEIDER" in cli("structure", "list").stdout


def test_errors_go_to_stderr_with_a_non_zero_exit(cli):
    bad = cli(
        "structure", "add", "--finess", "010002302", "--name", "X", "--department", "01", ok=False
    )
    assert bad.exit_code == 2 and "finess_check_digit" in bad.stderr and "Luhn" in bad.stderr
    missing = cli("structure", "show", "010000016", ok=False)
    assert missing.exit_code == 3 and "inconnue" in missing.stderr
    reject = cli("habilitation", "reject", "42", "--reason", "x", ok=False)
    assert reject.exit_code == 3 and "42" in reject.stderr
    card = cli("card", "issue", "--person", LEGAL, "--type", "CPZ", ok=False)
    assert card.exit_code == 2 and "CPS, CPE ou CPA" in card.stderr


def test_structure_import_reports_and_is_idempotent(cli, tmp_path):
    generated = generate_extract(40, seed=5, broken=3)
    path = generated.write(tmp_path / "extract.csv")
    first = cli("structure", "import", str(path)).stdout
    assert "importées: 40" in first and "rejetées: 3" in first
    for line_number in generated.broken:
        assert f"ligne {line_number} [" in first
    second = cli("structure", "import", str(path)).stdout
    assert "importées: 0" in second and "mises à jour: 0" in second and "inchangées: 40" in second


def test_demo_data_is_idempotent(cli, services):
    first = cli("demo", "--structures", "30").stdout
    assert "LOGICIEL OFFICINE SA" in first and "mot de passe:" in first
    cards = services.settings.home / "demo-cards"
    assert (cards / f"{PHARMACIST}.p12").exists()
    with services.unit_of_work() as uow:
        before = (len(uow.habilitations.list()), uow.structures.count())
    second = cli("demo", "--structures", "30").stdout
    assert "habilitations accordées: 0" in second
    with services.unit_of_work() as uow:
        assert (len(uow.habilitations.list()), uow.structures.count()) == before
        assert before[0] >= 2


def test_the_installed_command_in_a_real_process(services, tmp_path):
    from conftest import PASS_PHRASE

    env = {
        **os.environ,
        "SCEAU_HOME": str(services.settings.home),
        "SCEAU_DATABASE_URL": services.settings.resolved_database_url,
        "SCEAU_CA_PASSPHRASE": PASS_PHRASE,
    }
    command = [sys.executable, "-m", "sceau.cli.main"]
    ok = subprocess.run(
        [
            *command,
            "person",
            "add",
            "--idnat",
            rpps_idnat("1000111222"),
            "--family-name",
            "Petit",
            "--given-name",
            "Paul",
            "--profession",
            "21",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(
        [*command, "person", "add", "--idnat", "899", "--family-name", "X", "--given-name", "Y"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "RPPS" in refused.stderr and refused.stdout == ""
