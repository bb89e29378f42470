"""``sceau ca``: the CA ceremony and CA inspection."""

from __future__ import annotations

from typing import Literal

import typer
from cryptography import x509
from rich.table import Table

from sceau.cli.common import console, container, handle_errors

app = typer.Typer(help="Autorités de certification (cérémonie, inspection).", no_args_is_help=True)


@app.command("create")
@handle_errors
def create(
    env: str = typer.Option("test", "--env", help="test ou prod"),
    key_backend: str = typer.Option(
        None, "--key-backend", help="file ou pkcs11 (défaut: configuration)"
    ),
) -> None:
    """Create (idempotently) a TEST or PROD hierarchy: root, organisations CA, persons CA."""
    from dataclasses import replace

    from sceau.bootstrap import ensure_home, prepare_database
    from sceau.registration.use_cases.certificate_authorities import create_hierarchy

    if env not in ("test", "prod"):
        raise typer.BadParameter("--env doit valoir test ou prod")
    environment: Literal["test", "prod"] = "test" if env == "test" else "prod"
    services = container()
    ensure_home(services.settings)
    prepare_database(services.settings)
    try:
        publication = services.publication(environment)
    except ValueError as exc:
        from sceau.cli.common import fail

        fail(str(exc))
        return
    if key_backend:
        publication = replace(publication, key_backend=key_backend)
    created = create_hierarchy(services, environment, publication)
    if not created:
        console.print(f"la hiérarchie {environment.upper()} existe déjà: rien à faire")
    for authority in created:
        console.print(
            f"AC créée: {authority.subject} — clé {authority.key_reference}", highlight=False
        )


@app.command("list")
@handle_errors
def list_authorities() -> None:
    """List the CAs with their validity and key location."""
    services = container()
    table = Table("slug", "sujet", "valide jusqu'au", "clé")
    with services.unit_of_work() as uow:
        for authority in uow.authorities.all():
            certificate = x509.load_der_x509_certificate(authority.certificate_der)
            table.add_row(
                authority.slug,
                authority.subject,
                f"{certificate.not_valid_after_utc:%Y-%m-%d}",
                authority.key_reference,
            )
    console.print(table)
