"""A pharmacy's full set through the CLI as subprocesses: order, retrieve, check with openssl;
rights with --as-idnat; wrong INSi names; revocation by code; a lost PKCS#12 password."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from orders_world import check_files

from sceau.bootstrap import Container
from sceau.config import Settings

pytestmark = pytest.mark.e2e

ADMIN = "810001234567"  # habilitated on the pharmacy
OTHER = "810007654321"  # habilitated on another structure only
PASSWORD = "Officine-2026!"
CODE = "Revoc-Code-42"


def sceau(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCEAU_")}
    env["SCEAU_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "sceau.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def flat(text: str) -> str:
    """Error messages are wrapped to the terminal width: compare them on one line."""
    return " ".join(text.split())


def ok(home: Path, *args: str) -> str:
    done = sceau(home, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def add_people(home: Path) -> None:
    """Persons and habilitations written through the repositories (the registry's job)."""
    settings = Settings(home=home)
    services = Container(settings=settings)
    now = dt.datetime.now(dt.UTC)
    with services.unit_of_work() as uow:
        pharmacy = uow.structures.by_reference("0B0039137")
        other = uow.structures.by_reference("0B0152872")
        for idnat, name, structure in ((ADMIN, "MARTIN", pharmacy), (OTHER, "BERNARD", other)):
            person = uow.persons.create(
                idnat=idnat, family_name=name, given_name="A", created_at=now, updated_at=now
            )
            uow.habilitations.grant(
                structure_id=structure.id,
                person_id=person.id,
                administrator_status="pharmacien",
                granted_at=now,
                granted_by="operator",
            )
        uow.commit()
    services.close()


def test_pharmacy_set_through_the_cli(tmp_path):
    home = tmp_path / "home"
    ok(home, "init")
    ok(
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
    ok(
        home,
        "structure",
        "add",
        "--finess",
        "0B0152872",
        "--name",
        "CENTRE DE SANTE",
        "--department",
        "69",
    )
    add_people(home)
    password_file, code_file = tmp_path / "pw", tmp_path / "code"
    password_file.write_text(PASSWORD + "\n")
    code_file.write_text(f"{CODE}\n{CODE}\n")
    common = [
        "--structure",
        "0B0039137",
        "--email",
        "titulaire@pharmacie.example",
        "--cc",
        "editeur@logiciel.example",
        "--generate",
        "--password-file",
        str(password_file),
        "--as-idnat",
        ADMIN,
    ]

    for wrong in ("insi-auto", "INSI AUTO", "INSI-AUTO "):
        refused = sceau(
            home, "order", "create", "--bundle", "INSI", "--service-applicatif", wrong, *common
        )
        assert (
            refused.returncode == 2
            and "INSI-AUTO" in flat(refused.stderr)
            and "DESIR_560" in flat(refused.stderr)
        )

    insi = ok(
        home, "order", "create", "--bundle", "INSI", "--service-applicatif", "INSI-AUTO", *common
    )
    dmp = ok(home, "order", "create", "--bundle", "DMP", "--service-applicatif", "LGO DMP", *common)
    serials = re.findall(r"série ([0-9a-f]{32})", insi + dmp)
    assert len(serials) == 3 and "en attente de retrait" in insi
    usages = re.findall(r"produit \d+: (AUTH_CLI|SIGN)", insi + dmp)
    assert usages == ["AUTH_CLI", "AUTH_CLI", "SIGN"]
    order_id = re.search(r"demande (\d+)", dmp).group(1)

    # Someone habilitated elsewhere gets nothing, by any command.
    for args in (
        ["order", "show", order_id],
        [
            "cert",
            "retrieve",
            serials[0],
            "--out-dir",
            str(tmp_path / "x"),
            "--accept-terms",
            "--code-file",
            str(code_file),
            "--password-file",
            str(password_file),
        ],
        [
            "cert",
            "renew",
            serials[0],
            "--email",
            "a@b.example",
            "--generate",
            "--password-file",
            str(password_file),
        ],
        ["cert", "revoke", serials[0], "--reason", "keyCompromise"],
        ["order", "cancel", order_id],
        ["order", "list", "--structure", "0B0039137"],
    ):
        refused = sceau(home, *args, "--as-idnat", OTHER)
        assert refused.returncode == 5, (args, refused.stdout, refused.stderr)
    assert serials[0] not in ok(home, "cert", "list", "--as-idnat", OTHER)
    assert not (tmp_path / "x").exists()

    # A wrong PKCS#12 password: refused, nothing written, a new request is the way out.
    wrong_file = tmp_path / "wrong"
    wrong_file.write_text("Pas-Le-Bon-1\n")
    wrong = sceau(
        home,
        "cert",
        "retrieve",
        serials[0],
        "--out-dir",
        str(tmp_path / "w"),
        "--accept-terms",
        "--code-file",
        str(code_file),
        "--password-file",
        str(wrong_file),
        "--as-idnat",
        ADMIN,
    )
    assert wrong.returncode == 2 and "nouvelle demande" in flat(wrong.stderr)
    assert not (tmp_path / "w").exists()

    for serial, usage, cn in zip(
        serials, ("AUTH_CLI", "AUTH_CLI", "SIGN"), ("INSI-AUTO", "LGO DMP", "LGO DMP"), strict=True
    ):
        folder = tmp_path / serial
        out = ok(
            home,
            "cert",
            "retrieve",
            serial,
            "--out-dir",
            str(folder),
            "--accept-terms",
            "--code-file",
            str(code_file),
            "--password-file",
            str(password_file),
            "--as-idnat",
            ADMIN,
        )
        assert "retiré" in out
        written = {p.suffix[1:]: p for p in folder.iterdir()}
        assert set(written) == {"p12", "pem", "cer", "p7b"}
        assert written["p12"].stat().st_mode & 0o777 == 0o600
        assert re.fullmatch(
            rf"sceau-p12-TEST-ORG-{usage}-\d{{8}}-\d{{6}}\.p12", written["p12"].name
        )
        check_files(folder, written, cn=cn, idnst="10B0039137", usage=usage, password=PASSWORD)

    listing = ok(home, "order", "list", "--as-idnat", ADMIN, "--state", "retrieved")
    assert all(s in listing for s in serials)
    assert "retrieved: 3" in ok(home, "order", "list", "--counts", "--as-idnat", ADMIN)

    # Revocation with the code, without logging in; a wrong code is refused.
    bad_code = tmp_path / "bad"
    bad_code.write_text("Faux-Code-99\n")
    refused = sceau(home, "cert", "revoke", serials[2], "--code-file", str(bad_code))
    assert refused.returncode == 5 and "incorrect" in flat(refused.stderr)
    revoked = ok(
        home,
        "cert",
        "revoke",
        serials[2],
        "--code-file",
        str(code_file),
        "--reason",
        "keyCompromise",
    )
    assert "révoqué (keyCompromise)" in revoked
    assert "revoked" in ok(home, "cert", "list", "--search", serials[2])
