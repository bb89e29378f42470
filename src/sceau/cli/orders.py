"""``sceau order``: DEMANDER, SUIVRE, cancel — over the registration use cases.

The CLI acts as the operator unless ``--as-idnat`` names a person: then the person's
habilitations and representations decide, exactly as on the portal. Secrets (PKCS#12
password, revocation code) come from a file or a hidden prompt, never from the command line.
"""

from __future__ import annotations

from pathlib import Path

import typer

from sceau.cli.common import container, handle_errors, read_input
from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Actor, actor_for_person
from sceau.registration.orders.views import OrderView, ProductView

app = typer.Typer(help="Demandes de certificats: créer, suivre, annuler.", no_args_is_help=True)

AS_IDNAT = typer.Option(
    None, "--as-idnat", help="Agir en tant que cette personne (idNat) au lieu de l'opérateur"
)


def acting(as_idnat: str | None) -> Actor:
    """The operator, or the person ``as_idnat`` with their current rights."""
    if not as_idnat:
        return Actor.operator("operator:cli")
    with container().unit_of_work() as uow:
        person = uow.persons.by_idnat(as_idnat.strip())
        if person is None:
            raise SceauError(
                "person_not_found", f"aucune personne d'idNat {as_idnat!r}", ErrorKind.NOT_FOUND
            )
        return actor_for_person(uow, person)


def read_secret(path: Path | None, prompt: str, *, confirm: bool = False) -> tuple[str, str]:
    """(secret, confirmation): the file's first line (second line: the confirmation, else the
    same), or typed twice at a hidden prompt."""
    if path is not None:
        lines = read_input(str(path)).decode().splitlines()
        if not lines or not lines[0]:
            raise SceauError("secret_file_empty", f"{path}: fichier vide")
        return lines[0], lines[1] if len(lines) > 1 else lines[0]
    first = typer.prompt(prompt, hide_input=True)
    second = typer.prompt(f"{prompt} (confirmation)", hide_input=True) if confirm else first
    return first, second


def print_product(product: ProductView) -> None:
    validity = f" valide jusqu'au {product.not_after:%Y-%m-%d}" if product.not_after else ""
    insi = " INSi" if product.insi else ""
    typer.echo(
        f"  produit {product.id}: {product.usage}{insi} CN={product.service_applicatif} "
        f"[{product.state.value}] {product.state_label}"
        f"{' série ' + product.serial if product.serial else ''}{validity}"
    )
    if product.rejection_reason:
        typer.echo(f"    motif: {product.rejection_reason}")


def print_order(order: OrderView) -> None:
    bundle = f" ({order.bundle})" if order.bundle else ""
    typer.echo(
        f"demande {order.id}: {order.offer}{bundle} {order.kind} pour {order.raison_sociale} "
        f"({order.structure_idnst}), acteur {order.actor_email}"
        f"{', copie ' + order.cc_email if order.cc_email else ''}"
    )
    for product in order.products:
        print_product(product)


@app.command("create")
@handle_errors
def create(
    structure: str = typer.Option(..., "--structure", help="IDNST ou FINESS géographique"),
    service_applicatif: str = typer.Option(
        ..., "--service-applicatif", help="Devient le CN (FQDN pour SERV SSL)"
    ),
    email: str = typer.Option(..., "--email", help="E-mail de l'acteur (obligatoire)"),
    cc: str = typer.Option(None, "--cc", help="E-mail d'une personne à informer (copie)"),
    offer: str = typer.Option("ORG", "--offer", help="ORG ou SERV"),
    usage: str = typer.Option(None, "--usage", help="auth_cli, sign, conf ou serv_ssl"),
    bundle: str = typer.Option(
        None, "--bundle", help="Usage métier: DMP, INSI, PSC, MSSANTE_BAL, MSSANTE_OPERATEUR"
    ),
    insi: bool = typer.Option(False, "--insi", help="Certificat INSi (CN INSI-AUTO/INSI-MANU)"),
    dns: list[str] = typer.Option([], "--dns", help="Nom DNS supplémentaire (SERV SSL)"),
    csr: list[Path] = typer.Option([], "--csr", help="CSR (une par certificat), répétable"),
    generate: bool = typer.Option(False, "--generate", help="Générer la clé en ligne"),
    password_file: Path = typer.Option(
        None, "--password-file", help="Mot de passe du PKCS#12 (génération en ligne)"
    ),
    as_idnat: str = AS_IDNAT,
) -> None:
    """DEMANDER: a new product, or a service's set (--bundle)."""
    from sceau.registration.use_cases.request_certificates import (
        RequestCommand,
        request_certificates,
    )

    services = container()
    password = None
    if generate:
        password, confirmation = read_secret(password_file, "Mot de passe du PKCS#12", confirm=True)
        if password != confirmation:
            raise SceauError("password_mismatch", "les deux saisies du mot de passe diffèrent")
    order = request_certificates(
        services,
        RequestCommand(
            structure=structure,
            service_applicatif=service_applicatif,
            actor_email=email,
            cc_email=cc,
            actor=acting(as_idnat),
            offer=offer,
            usage=usage,
            bundle=bundle,
            insi=insi,
            dns_names=tuple(dns),
            csrs=tuple(read_input(str(path)) for path in csr),
            generate_online=generate,
            pkcs12_password=password,
        ),
    )
    print_order(order)


@app.command("list")
@handle_errors
def list_products(
    structure: str = typer.Option(None, "--structure", help="Une structure (IDNST ou FINESS)"),
    search: str = typer.Option(None, "--search", help="Raison sociale, FINESS, IDNST, CN, série"),
    state: str = typer.Option(None, "--state", help="requested, issued, retrieved, expired…"),
    expires_within: int = typer.Option(None, "--expires-within", help="Expire sous N jours"),
    limit: int = typer.Option(50, "--limit", help="Taille de page"),
    before: int = typer.Option(None, "--before", help="Page suivante: dernier numéro de produit"),
    counts: bool = typer.Option(False, "--counts", help="Tableau de bord (comptes par état)"),
    as_idnat: str = AS_IDNAT,
) -> None:
    """SUIVRE: requests and products, newest first."""
    from sceau.registration.use_cases.track_certificates import (
        TrackQuery,
        dashboard,
        track_products,
    )

    services = container()
    actor = acting(as_idnat)
    if counts:
        board = dashboard(services, actor, structure)
        for name, count in sorted(board.by_state.items()):
            typer.echo(f"{name}: {count}")
        for days, count in board.expiring.items():
            typer.echo(f"expirent sous {days} jours: {count}")
        return
    page = track_products(
        services,
        TrackQuery(
            structure=structure,
            text=search,
            state=state,
            expires_within_days=expires_within,
            before_id=before,
            limit=limit,
        ),
        actor,
    )
    for product in page.items:
        until = f"{product.not_after:%Y-%m-%d}" if product.not_after else "-"
        typer.echo(
            f"{product.id}\t{product.structure_idnst}\t{product.raison_sociale}\t{product.usage}\t"
            f"{product.service_applicatif}\t{product.state.value}\t{product.serial or '-'}\t"
            f"{until}"
        )
    if page.next_before_id is not None:
        typer.echo(f"suite: --before {page.next_before_id}")


@app.command("show")
@handle_errors
def show(
    order_id: int = typer.Argument(..., help="Numéro de demande"), as_idnat: str = AS_IDNAT
) -> None:
    """Show an order and its products."""
    from sceau.registration.use_cases.track_certificates import show_order

    print_order(show_order(container(), order_id, acting(as_idnat)))


@app.command("cancel")
@handle_errors
def cancel(
    order_id: int = typer.Argument(..., help="Numéro de demande"), as_idnat: str = AS_IDNAT
) -> None:
    """Cancel what is not retrieved yet (an issued certificate is revoked)."""
    from sceau.cli.certificates import publish_status
    from sceau.registration.use_cases.request_certificates import cancel_order

    services = container()
    order, slugs = cancel_order(services, order_id, acting(as_idnat))
    for slug in slugs:
        publish_status(services, slug)
    print_order(order)
