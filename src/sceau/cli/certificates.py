"""``sceau cert`` and ``sceau crl``: issue, revoke, show certificates; publish CRLs."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sceau.cli.common import console, container, handle_errors, read_input

app = typer.Typer(help="Certificats: émettre, révoquer, afficher.", no_args_is_help=True)
crl_app = typer.Typer(help="Listes de révocation (CRL) et OCSP.", no_args_is_help=True)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@app.command("issue")
@handle_errors
def issue(
    structure: str = typer.Option(..., "--structure", help="IDNST ou FINESS géographique"),
    usage: str = typer.Option(..., "--usage", help="auth_cli, sign, conf ou serv_ssl"),
    service_applicatif: str = typer.Option(..., "--service-applicatif", help="Devient le CN"),
    csr: str = typer.Option(..., "--csr", help="Fichier CSR (PEM ou DER), - pour l'entrée standard"),
    dns: list[str] = typer.Option([], "--dns", help="Nom DNS (SERV SSL), répétable"),
    insi: bool = typer.Option(False, "--insi", help="Certificat pour l'INSi (CN INSI-AUTO ou INSI-MANU)"),
    out: Path = typer.Option(None, "--out", help="Écrire le certificat (PEM) et sa chaîne dans ce fichier"),
) -> None:
    """Issue a certificate for a structure from a CSR (subject taken from the registry)."""
    from sceau.pki.profiles import Usage
    from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate

    services = container()
    csr_bytes = read_input(csr)
    parsed_usage = Usage.parse(usage)
    insi_flag = insi or service_applicatif in ("INSI-AUTO", "INSI-MANU")
    issued = issue_certificate(
        services,
        IssueCommand(
            structure=structure,
            usage=parsed_usage,
            service_applicatif=service_applicatif,
            csr=csr_bytes,
            dns_names=tuple(dns),
            insi=insi_flag,
            environment=services.settings.environment,
        ),
    )
    pem = issued.pem + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in issued.chain)
    if out:
        _write_atomically(out, pem)
        console.print(f"certificat {issued.serial} écrit dans {out}", highlight=False)
    else:
        typer.echo(pem.decode(), nl=False)
    from sceau.cli.common import error_console

    error_console.print(f"numéro de série: {issued.serial}", highlight=False)


@app.command("revoke")
@handle_errors
def revoke(
    serial: str = typer.Argument(..., help="Numéro de série (hexadécimal)"),
    reason: str = typer.Option("unspecified", "--reason", help="Motif RFC 5280 (keyCompromise, superseded…)"),
) -> None:
    """Revoke a certificate (final) and republish the CRLs and OCSP responses."""
    from sceau.cli.main import _publish_status
    from sceau.registration.use_cases.revoke_certificate import (
        RevokeCommand,
        parse_reason,
        revoke_certificate,
    )

    services = container()
    revoke_certificate(services, RevokeCommand(serial=serial, reason=parse_reason(reason)))
    _publish_status(services)
    console.print(f"certificat {serial} révoqué ({parse_reason(reason).value})", highlight=False)


@app.command("show")
@handle_errors
def show(
    serial: str = typer.Argument(..., help="Numéro de série (hexadécimal)"),
    pem: bool = typer.Option(False, "--pem", help="Afficher le certificat en PEM"),
) -> None:
    """Show a certificate's record and status."""
    from sceau.pki.errors import ErrorKind, SceauError
    from sceau.registration.use_cases.revoke_certificate import normalise_serial

    services = container()
    normalised = normalise_serial(serial)
    with services.unit_of_work() as uow:
        row = uow.certificates.by_serial(normalised)
        if row is None:
            raise SceauError("certificate_not_found", f"aucun certificat de numéro {normalised}", ErrorKind.NOT_FOUND)
        if pem and row.certificate_der:
            typer.echo(
                x509.load_der_x509_certificate(row.certificate_der)
                .public_bytes(serialization.Encoding.PEM)
                .decode(),
                nl=False,
            )
            return
        status = row.status
        if row.revoked_at is not None:
            status = f"révoqué le {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC ({row.revocation_reason})"
        console.print(f"numéro de série: {row.serial}", highlight=False)
        console.print(f"sujet: {row.subject}", highlight=False)
        console.print(f"usage: {row.usage}{' (INSi)' if row.insi else ''}", highlight=False)
        console.print(f"émetteur: {row.authority.subject}", highlight=False)
        console.print(f"validité: {row.not_before:%Y-%m-%d %H:%M:%S} → {row.not_after:%Y-%m-%d %H:%M:%S} UTC", highlight=False)
        console.print(f"état: {status}", highlight=False)


@app.command("recover")
@handle_errors
def recover() -> None:
    """Complete every recorded issuance intent left by a process that died before signing."""
    import datetime as dt

    from sceau.registration.use_cases.issue_certificate import resume_pending_issuance

    services = container()
    completed = resume_pending_issuance(services, older_than=dt.timedelta(0))
    for serial in completed:
        console.print(f"émission terminée après interruption: {serial}", highlight=False)
    if not completed:
        console.print("aucune émission interrompue")


@crl_app.command("generate")
@handle_errors
def generate() -> None:
    """Generate new full and delta CRLs for every CA, and refresh OCSP responses."""
    from sceau.registration.use_cases.revocation_status import publish_revocation_status

    services = container()
    published = publish_revocation_status(services, force=True)
    for line in published:
        console.print(line, highlight=False)
