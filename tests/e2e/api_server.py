"""A real ``sceau serve`` subprocess on a seeded registry, for the client and API tests.

``seed`` registers ``count`` pharmacies (valid FINESS), two vendors each with a technical
administrator (CPA card) habilitated on its own pharmacies (vendor A: all but the last two;
vendor B: the last two), and API tokens for both and for the operator.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.bootstrap import Container
from sceau.config import Settings
from sceau.registration.identifiers import luhn_check_digit

PASSPHRASE = "e2e-passphrase-not-secret"
VENDOR_A, VENDOR_B = "732829320", "412345670"
ADMIN_A, ADMIN_B = f"4{VENDOR_A}/CPAT0001", f"4{VENDOR_B}/CPAT0007"


def finess(index: int) -> str:
    body = f"69{index:06d}"
    return body + str(luhn_check_digit(body))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(home: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCEAU_")}
    env.update(
        SCEAU_HOME=str(home),
        SCEAU_CA_PASSPHRASE=PASSPHRASE,
        SCEAU_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SCEAU_PORT=str(port),
        SCEAU_API_RATE_PER_SECOND="0",
        **extra,
    )
    return env


def sceau(
    env: dict[str, str], *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "sceau.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"sceau {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


@dataclass
class Seeded:
    structures: list[str]
    tokens: dict[str, str]  # operator, admin_a, admin_b


def seed(home: Path, count: int) -> Seeded:
    """Register the world directly in the database (the server is not running yet)."""
    from sceau.registration.use_cases.cards import IssueCardCommand, issue_card
    from sceau.registration.use_cases.habilitations import (
        AdministratorForm,
        RequestHabilitationCommand,
        approve_habilitation,
        request_habilitation,
    )
    from sceau.registration.use_cases.persons import AddPersonCommand, add_person
    from sceau.registration.use_cases.structures import AddStructureCommand, add_structure
    from sceau.registration.use_cases.vendors import AddVendorCommand, add_vendor
    from sceau.web.api.tokens import create_token

    services = Container(Settings(home=home, ca_passphrase=PASSPHRASE))
    signed = dt.date(2026, 1, 5)
    add_vendor(
        services,
        AddVendorCommand(VENDOR_A, "LOGICIEL OFFICINE SA", "69", contract_signed_on=signed),
    )
    add_vendor(
        services, AddVendorCommand(VENDOR_B, "AUTRE EDITEUR SAS", "75", contract_signed_on=signed)
    )
    cards = {}
    for idnat, siren, family, mail in (
        (ADMIN_A, VENDOR_A, "Martin", "alice@logiciel.example"),
        (ADMIN_B, VENDOR_B, "Bernard", "bruno@autre.example"),
    ):
        add_person(services, AddPersonCommand(idnat, family, "Admin", mail, vendor_siren=siren))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        card = issue_card(services, IssueCardCommand(idnat, "CPA", b"pw", key, form="301"))
        cards[idnat] = (card, mail, f"Admin {family}")
    structures = [finess(i + 1) for i in range(count)]
    for index, number in enumerate(structures):
        add_structure(
            services,
            AddStructureCommand(
                finess=number, raison_sociale=f"PHARMACIE NUMERO {index + 1}", department="69"
            ),
        )
        admin = ADMIN_B if index >= count - 2 else ADMIN_A
        card, mail, name = cards[admin]
        request = request_habilitation(
            services,
            RequestHabilitationCommand(
                structure=number,
                form=AdministratorForm("éditeur", name, card.card_number, mail, "01 02 03 04 05"),
            ),
        )
        approve_habilitation(services, request.id)
    all_scopes = ("read", "order", "revoke")
    tokens = {
        "operator": create_token(services, name="op", scopes=all_scopes, days=30, operator=True)[0],
        "admin_a": create_token(
            services, name="a", scopes=all_scopes, days=30, person_idnat=ADMIN_A
        )[0],
        "admin_b": create_token(
            services, name="b", scopes=all_scopes, days=30, person_idnat=ADMIN_B
        )[0],
    }
    services.close()
    return Seeded(structures, tokens)


@contextmanager
def running_server(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """``sceau serve`` until the block ends; yields the base URL."""
    args = [sys.executable, "-m", "sceau.cli.main", "serve", "--port", str(port)]
    help_text = sceau(env, "serve", "--help").stdout
    if "--no-demo" in help_text:
        args.append("--no-demo")
    with open(log, "wb") as output:
        process = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("sceau serve did not start:\n" + log.read_text())
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
