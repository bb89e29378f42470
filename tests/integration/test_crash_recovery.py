"""A process killed between *record* and *sign* leaves an intent that sceau completes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from cryptography import x509

from conftest import PASS_PHRASE, make_csr
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from sceau.bootstrap import build
    from sceau.pki.profiles import Usage
    from sceau.registration.use_cases import issue_certificate as module

    def die(serial):
        print(serial, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)   # the process dies right after the record

    module.before_sign_hook = die
    module.issue_certificate(build(), module.IssueCommand(
        structure="010002301", usage=Usage.AUTH_CLI, service_applicatif="DMP",
        csr=sys.stdin.buffer.read()))
    """
)


def _env(services) -> dict[str, str]:
    return {
        **os.environ,
        "SCEAU_HOME": str(services.settings.home),
        "SCEAU_DATABASE_URL": services.settings.resolved_database_url,
        "SCEAU_CA_PASSPHRASE": PASS_PHRASE,
    }


def test_killed_between_record_and_sign_then_recovered(services, leaf_keys):
    add_structure(
        services,
        AddStructureCommand(finess="010002301", raison_sociale="PHARMACIE A", department="01"),
    )
    killed = subprocess.run(
        [sys.executable, "-c", KILLER],
        input=make_csr(leaf_keys[0]),
        capture_output=True,
        env=_env(services),
    )
    assert killed.returncode == -9, killed.stderr.decode()
    serial = killed.stdout.decode().strip()
    with services.unit_of_work() as uow:
        row = uow.certificates.by_serial(serial)
        assert row.status == "prepared"  # recorded, never signed
        assert row.certificate_der is None
        tbs = row.tbs_der

    recovered = subprocess.run(
        [sys.executable, "-m", "sceau.cli.main", "cert", "recover"],
        capture_output=True,
        text=True,
        env=_env(services),
    )
    assert recovered.returncode == 0, recovered.stderr
    assert serial in recovered.stdout

    with services.unit_of_work() as uow:
        row = uow.certificates.by_serial(serial)
        assert row.status == "issued"
        certificate = x509.load_der_x509_certificate(row.certificate_der)
    assert certificate.tbs_certificate_bytes == tbs  # exactly what was linted and recorded
    assert format(certificate.serial_number, "032x") == serial

    # Running the recovery again does nothing; a new issuance gets a new serial.
    again = subprocess.run(
        [sys.executable, "-m", "sceau.cli.main", "cert", "recover"],
        capture_output=True,
        text=True,
        env=_env(services),
    )
    assert "aucune émission interrompue" in again.stdout
    other = issue_certificate(
        services,
        IssueCommand(
            structure="010002301",
            usage=Usage.SIGN,
            service_applicatif="DMP",
            csr=make_csr(leaf_keys[0]),
        ),
    )
    assert other.serial != serial
