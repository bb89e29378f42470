"""Entry point of the ``sceau`` command."""

from __future__ import annotations

import datetime as dt

import typer

from sceau.cli import (
    audit,
    backup,
    ca,
    certificates,
    client,
    orders,
    registry,
    structures,
    tokens,
    worker,
)
from sceau.cli.common import console, container, handle_errors

app = typer.Typer(
    name="sceau",
    help="sceau — autorité de certification et cycle de vie des certificats ORG (IGC-Santé).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(ca.app, name="ca")
app.add_typer(structures.app, name="structure")
app.add_typer(certificates.app, name="cert")
app.add_typer(orders.app, name="order")
app.add_typer(certificates.crl_app, name="crl")
app.add_typer(audit.app, name="audit")
backup.register(app)
app.add_typer(worker.app, name="worker")
app.add_typer(registry.vendor_app, name="vendor")
app.add_typer(registry.person_app, name="person")
app.add_typer(registry.card_app, name="card")
app.add_typer(registry.habilitation_app, name="habilitation")
app.add_typer(registry.demo_app, name="demo")
app.add_typer(client.app, name="client")
app.add_typer(tokens.app, name="token")


@app.command()
@handle_errors
def init() -> None:
    """Create the data directory, the database and the TEST CA hierarchy (idempotent)."""
    from sceau.bootstrap import ensure_home, prepare_database
    from sceau.registration.use_cases.certificate_authorities import create_hierarchy
    from sceau.registration.use_cases.issue_certificate import resume_pending_issuance

    services = container()
    settings = services.settings
    ensure_home(settings)
    prepare_database(settings)
    created = create_hierarchy(services, "test", services.publication("test"))
    for authority in created:
        console.print(f"AC créée: {authority.subject} ({authority.slug})", highlight=False)
    from sceau.registration.use_cases.recover_orders import resume_interrupted_orders

    resumed = resume_pending_issuance(services, older_than=_zero())
    for serial in resumed:
        console.print(f"émission reprise après interruption: {serial}")
    for line in resume_interrupted_orders(services):
        console.print(line, highlight=False)
    _publish_status(services)
    console.print(f"sceau prêt: données dans {settings.home}", highlight=False)


def _zero() -> dt.timedelta:
    return dt.timedelta(0)


def _publish_status(services) -> None:  # type: ignore[no-untyped-def]
    """Publish CRLs and OCSP responses when the revocation-status module is present."""
    try:
        from sceau.registration.use_cases.revocation_status import publish_revocation_status
    except ImportError:
        return
    publish_revocation_status(services)


@app.command()
@handle_errors
def serve(
    host: str = typer.Option(None, help="Adresse d'écoute (défaut: SCEAU_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, help="Port (défaut: SCEAU_PORT, 8080)"),
    tls: bool = typer.Option(
        False, "--tls", help="TLS par uvicorn, avec demande de carte (certificat client)"
    ),
    tls_hostname: str = typer.Option(
        None, help="Nom du serveur pour le certificat SERV SSL (défaut: sceau.localhost)"
    ),
    demo: bool | None = typer.Option(
        None,
        "--demo/--no-demo",
        help="Données et cartes de démonstration (défaut: au premier lancement en TEST)",
    ),
) -> None:
    """Start the portal, the API and the public CRL/OCSP service (first run: init + demo)."""
    from sceau.cli.serve import run_server

    services = container()
    settings = services.settings
    run_server(
        services,
        host=host or settings.host,
        port=port or settings.port,
        tls=tls,
        tls_hostname=tls_hostname,
        demo=demo,
        echo=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True),
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
