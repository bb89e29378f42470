"""``sceau cert`` and ``sceau crl``: issue, retrieve, renew, revoke, list, show; CRLs."""

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
    csr: str = typer.Option(
        ..., "--csr", help="Fichier CSR (PEM ou DER), - pour l'entrée standard"
    ),
    dns: list[str] = typer.Option([], "--dns", help="Nom DNS (SERV SSL), répétable"),
    insi: bool = typer.Option(
        False, "--insi", help="Certificat pour l'INSi (CN INSI-AUTO ou INSI-MANU)"
    ),
    out: Path = typer.Option(
        None, "--out", help="Écrire le certificat (PEM) et sa chaîne dans ce fichier"
    ),
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


def publish_status(services, slug: str) -> None:  # type: ignore[no-untyped-def]
    """Republish CRLs and OCSP now, so that a revocation shows within the minute."""
    from sceau.cli.common import error_console
    from sceau.registration.use_cases.revocation_status import publish_after_revocation

    if not publish_after_revocation(services, slug):
        error_console.print(
            "attention: la révocation est enregistrée mais la publication CRL/OCSP a échoué; "
            "le worker la refera à son prochain passage",
            highlight=False,
        )


@app.command("revoke")
@handle_errors
def revoke(
    serial: str = typer.Argument(..., help="Numéro de série (hexadécimal)"),
    reason: str = typer.Option(
        "unspecified", "--reason", help="Motif RFC 5280 (keyCompromise, superseded…)"
    ),
    code_file: Path = typer.Option(
        None, "--code-file", help="Révoquer avec le code de révocation lu dans ce fichier"
    ),
    as_idnat: str = typer.Option(
        None, "--as-idnat", help="Agir en tant que cette personne (idNat) au lieu de l'opérateur"
    ),
) -> None:
    """Revoke a certificate (final) and republish the CRLs and OCSP responses."""
    from sceau.cli.orders import acting, read_secret
    from sceau.registration.use_cases.revoke_product import (
        RevokeProductCommand,
        revoke_product,
        revoke_with_code,
    )

    services = container()
    if code_file is not None:
        code, _ = read_secret(code_file, "Code de révocation")
        outcome = revoke_with_code(services, serial, code, reason, source="cli")
    else:
        outcome = revoke_product(
            services, RevokeProductCommand(serial, reason, actor=acting(as_idnat), source="cli")
        )
    publish_status(services, outcome.authority_slug)
    typer.echo(f"certificat {outcome.serial} révoqué ({outcome.reason})")


@app.command("retrieve")
@handle_errors
def retrieve(
    serial: str = typer.Argument(..., help="Numéro de série (hexadécimal)"),
    out_dir: Path = typer.Option(Path("."), "--out-dir", help="Dossier où écrire les fichiers"),
    accept_terms: bool = typer.Option(
        False,
        "--accept-terms",
        help="Le bénéficiaire reconnaît accepter le certificat, les CGU et la PC",
    ),
    code_file: Path = typer.Option(
        None, "--code-file", help="Code de révocation choisi (2e ligne: confirmation)"
    ),
    password_file: Path = typer.Option(
        None, "--password-file", help="Mot de passe du PKCS#12 choisi à la demande"
    ),
    aes: bool = typer.Option(False, "--aes", help="PKCS#12 AES-256/SHA-256 au lieu du format ANS"),
    as_idnat: str = typer.Option(
        None, "--as-idnat", help="Agir en tant que cette personne (idNat) au lieu de l'opérateur"
    ),
) -> None:
    """RETIRER: choose the revocation code, accept the CGU and PC, write the files."""
    from sceau.cli.orders import acting
    from sceau.cli.orders import read_secret as secret
    from sceau.registration.use_cases.retrieve_certificate import (
        RetrieveCommand,
        retrieve_certificate,
    )
    from sceau.registration.use_cases.track_certificates import show_product

    services = container()
    actor = acting(as_idnat)
    product = show_product(services, serial, actor)
    code, confirmation = secret(code_file, "Code de révocation", confirm=True)
    password = None
    if product.key_source == "online":
        password, _ = secret(password_file, "Mot de passe du PKCS#12")
    files = retrieve_certificate(
        services,
        RetrieveCommand(
            serial=serial,
            revocation_code=code,
            revocation_code_confirmation=confirmation,
            accept_terms=accept_terms,
            pkcs12_password=password,
            pkcs12_layout="aes" if aes else "ans",
            actor=actor,
            source="cli",
        ),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in files.files:
        path = out_dir / item.name
        _write_atomically(path, item.content)
        if item.name.endswith(".p12"):
            os.chmod(path, 0o600)
        typer.echo(f"écrit: {path}")
    typer.echo(f"certificat {files.serial} retiré")


@app.command("renew")
@handle_errors
def renew(
    serial: str = typer.Argument(..., help="Numéro de série du certificat à renouveler"),
    email: str = typer.Option(..., "--email", help="E-mail de l'acteur (obligatoire)"),
    cc: str = typer.Option(None, "--cc", help="E-mail d'une personne à informer (copie)"),
    csr: Path = typer.Option(None, "--csr", help="CSR portant une nouvelle clé"),
    generate: bool = typer.Option(False, "--generate", help="Générer la nouvelle clé en ligne"),
    password_file: Path = typer.Option(
        None, "--password-file", help="Mot de passe du PKCS#12 (génération en ligne)"
    ),
    as_idnat: str = typer.Option(
        None, "--as-idnat", help="Agir en tant que cette personne (idNat) au lieu de l'opérateur"
    ),
) -> None:
    """Renew a valid certificate with a new key (same subject and profile)."""
    from sceau.cli.orders import acting, print_order, read_secret
    from sceau.registration.use_cases.renew_certificate import RenewCommand, renew_certificate

    services = container()
    password = read_secret(password_file, "Mot de passe du PKCS#12")[0] if generate else None
    order = renew_certificate(
        services,
        RenewCommand(
            serial=serial,
            actor_email=email,
            cc_email=cc,
            actor=acting(as_idnat),
            csr=read_input(str(csr)) if csr else None,
            generate_online=generate,
            pkcs12_password=password,
        ),
    )
    print_order(order)


@app.command("confirm-install")
@handle_errors
def confirm_install(
    serial: str = typer.Argument(..., help="Numéro de série du NOUVEAU certificat, installé"),
    as_idnat: str = typer.Option(
        None, "--as-idnat", help="Agir en tant que cette personne (idNat) au lieu de l'opérateur"
    ),
) -> None:
    """Confirm a renewed certificate is installed: the old one is revoked as superseded."""
    from sceau.cli.orders import acting
    from sceau.registration.use_cases.renew_certificate import confirm_installation

    services = container()
    outcome = confirm_installation(services, serial, acting(as_idnat))
    if outcome is None:
        console.print("installation confirmée; l'ancien certificat n'était plus valide")
        return
    publish_status(services, outcome.authority_slug)
    console.print(
        f"installation confirmée; ancien certificat {outcome.serial} révoqué ({outcome.reason})",
        highlight=False,
    )


@app.command("list")
@handle_errors
def list_certificates(
    structure: str = typer.Option(None, "--structure", help="Une structure (IDNST ou FINESS)"),
    search: str = typer.Option(None, "--search", help="Raison sociale, FINESS, IDNST, CN, série"),
    state: str = typer.Option(None, "--state", help="issued, retrieved, expired, revoked…"),
    expires_within: int = typer.Option(None, "--expires-within", help="Expire sous N jours"),
    limit: int = typer.Option(50, "--limit", help="Taille de page"),
    before: int = typer.Option(None, "--before", help="Page suivante: dernier numéro de produit"),
    as_idnat: str = typer.Option(
        None, "--as-idnat", help="Agir en tant que cette personne (idNat) au lieu de l'opérateur"
    ),
) -> None:
    """SUIVRE the certificates (same as ``sceau order list``)."""
    from sceau.cli.orders import list_products

    list_products(
        structure=structure,
        search=search,
        state=state,
        expires_within=expires_within,
        limit=limit,
        before=before,
        counts=False,
        as_idnat=as_idnat,
    )


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
            raise SceauError(
                "certificate_not_found",
                f"aucun certificat de numéro {normalised}",
                ErrorKind.NOT_FOUND,
            )
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
        console.print(
            f"validité: {row.not_before:%Y-%m-%d %H:%M:%S} → {row.not_after:%Y-%m-%d %H:%M:%S} UTC",
            highlight=False,
        )
        console.print(f"état: {status}", highlight=False)


@app.command("recover")
@handle_errors
def recover() -> None:
    """Complete every recorded issuance intent left by a process that died before signing."""
    import datetime as dt

    from sceau.registration.use_cases.issue_certificate import resume_pending_issuance

    services = container()
    from sceau.registration.use_cases.recover_orders import resume_interrupted_orders

    completed = resume_pending_issuance(services, older_than=dt.timedelta(0))
    for serial in completed:
        console.print(f"émission terminée après interruption: {serial}", highlight=False)
    settled = resume_interrupted_orders(services)  # a 2-minute grace: a live request may be mid-way
    for line in settled:
        console.print(line, highlight=False)
    if not completed and not settled:
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
