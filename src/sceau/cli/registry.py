"""``sceau vendor|person|card|habilitation|demo``: the registry from the operator's console."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import typer
from rich.table import Table

from sceau.cli.common import console, container, handle_errors

OPERATOR = "operator:cli"

vendor_app = typer.Typer(help="Éditeurs et contrats d'adhésion.", no_args_is_help=True)
person_app = typer.Typer(help="Personnes (idNat).", no_args_is_help=True)
card_app = typer.Typer(
    help="Cartes CPx émulées (certificat d'authentification).", no_args_is_help=True
)
habilitation_app = typer.Typer(
    help="Habilitations des administrateurs techniques.", no_args_is_help=True
)
demo_app = typer.Typer(help="Données de démonstration (idempotent).", invoke_without_command=True)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


# --------------------------------------------------------------------------------- vendors


@vendor_app.command("add")
@handle_errors
def vendor_add(
    siren: str = typer.Option(..., "--siren", help="SIREN de l'éditeur (9 chiffres)"),
    name: str = typer.Option(..., "--name", help="Raison sociale"),
    department: str = typer.Option(None, "--department", help="Département du siège"),
    contract_signed: str = typer.Option(
        None, "--contract-signed", help="Date de signature du contrat d'adhésion (AAAA-MM-JJ)"
    ),
    contract_reference: str = typer.Option(None, "--contract-reference"),
) -> None:
    """Register a vendor, optionally with its contract of adhesion."""
    from sceau.registration.use_cases.vendors import AddVendorCommand, add_vendor

    vendor = add_vendor(
        container(),
        AddVendorCommand(
            siren, name, department, _date(contract_signed), contract_reference, actor=OPERATOR
        ),
    )
    contract = "avec contrat d'adhésion" if vendor.has_active_contract else "sans contrat"
    console.print(
        f"éditeur ajouté: {vendor.name} (SIREN {vendor.siren}), {contract}", highlight=False
    )


@vendor_app.command("contract")
@handle_errors
def vendor_contract(
    signed: str = typer.Option(..., "--signed", help="Date de signature (AAAA-MM-JJ)"),
    siren: str = typer.Option(None, "--siren", help="SIREN de l'éditeur titulaire"),
    structure: str = typer.Option(
        None, "--structure", help="Ou: structure titulaire (FINESS/IDNST)"
    ),
    reference: str = typer.Option(None, "--reference"),
) -> None:
    """Record a contract of adhesion held by a vendor or by a structure."""
    from sceau.registration.use_cases.vendors import AddContractCommand, add_contract

    signed_on = _date(signed)
    assert signed_on is not None
    contract = add_contract(
        container(), AddContractCommand(signed_on, siren, structure, reference, actor=OPERATOR)
    )
    console.print(f"contrat enregistré: {contract.reference}", highlight=False)


@vendor_app.command("list")
@handle_errors
def vendor_list() -> None:
    services = container()
    table = Table("SIREN", "nom", "contrat actif")
    with services.unit_of_work() as uow:
        for vendor in uow.vendors.all():
            active = uow.contracts.has_active(vendor_id=vendor.id)
            table.add_row(vendor.siren, vendor.name, "oui" if active else "non")
    console.print(table)


# --------------------------------------------------------------------------------- persons


@person_app.command("add")
@handle_errors
def person_add(
    idnat: str = typer.Option(
        ..., "--idnat", help="idNat: 8+RPPS, 0+ADELI, 3+FINESS/n°, 4+SIREN/n°"
    ),
    family_name: str = typer.Option(..., "--family-name", help="Nom"),
    given_name: str = typer.Option(..., "--given-name", help="Prénom"),
    email: str = typer.Option(None, "--email"),
    phone: str = typer.Option(None, "--phone"),
    profession: int = typer.Option(None, "--profession", help="Code profession (21 Pharmacien)"),
    vendor: str = typer.Option(None, "--vendor", help="SIREN de l'éditeur employeur"),
    structure: str = typer.Option(None, "--structure", help="Structure employeur (CPE)"),
) -> None:
    """Register a person."""
    from sceau.registration.use_cases.persons import AddPersonCommand, add_person

    services = container()
    person = add_person(
        services,
        AddPersonCommand(
            idnat,
            family_name,
            given_name,
            email,
            phone,
            profession,
            vendor,
            structure,
            actor=OPERATOR,
            environment=services.settings.environment,
        ),
    )
    console.print(
        f"personne ajoutée: {person.given_name} {person.family_name} ({person.idnat})",
        highlight=False,
    )


@person_app.command("show")
@handle_errors
def person_show(idnat: str = typer.Argument(...)) -> None:
    from sceau.registration.use_cases.persons import show_person

    services = container()
    person = show_person(services, idnat, OPERATOR)
    console.print(f"{person.given_name} {person.family_name} ({person.idnat})", highlight=False)
    console.print(
        f"e-mail: {person.email or '-'}  téléphone: {person.phone or '-'}", highlight=False
    )
    with services.unit_of_work() as uow:
        for card in uow.cards.for_person(person.id):
            console.print(
                f"carte {card.card_type} {card.card_number} "
                f"({card.status}, fin {card.not_after:%Y-%m-%d})",
                highlight=False,
            )


# ----------------------------------------------------------------------------------- cards


def _write_card(card: object, out: Path | None, default_dir: Path) -> Path:
    number = card.card_number.replace("/", "-")  # type: ignore[attr-defined]
    target = out or default_dir / f"{number}.p12"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(card.pkcs12)  # type: ignore[attr-defined]
    return target


@card_app.command("issue")
@handle_errors
def card_issue(
    person: str = typer.Option(..., "--person", help="idNat du titulaire"),
    card_type: str = typer.Option(..., "--type", help="CPS, CPE ou CPA"),
    out: Path = typer.Option(None, "--out", help="Fichier PKCS#12 (défaut: $SCEAU_HOME/cards/)"),
    form: str = typer.Option(None, "--form", help="Formulaire de demande (301 pour une CPA)"),
    password_env: str = typer.Option(
        None, "--password-env", help="Variable d'environnement contenant le mot de passe du PKCS#12"
    ),
) -> None:
    """Issue a card: its authentication certificate as a password-protected PKCS#12."""
    from sceau.registration.use_cases.cards import IssueCardCommand, issue_card

    services = container()
    password = os.environ[password_env].encode() if password_env else None
    card = issue_card(
        services,
        IssueCardCommand(
            person,
            card_type,
            password,
            form=form,
            actor=OPERATOR,
            environment=services.settings.environment,
        ),
    )
    target = _write_card(card, out, services.settings.home / "cards")
    console.print(
        f"carte {card.card_type.value} {card.card_number} émise: {target}", highlight=False
    )
    if password is None:
        console.print(f"mot de passe du PKCS#12: {card.password.decode()}", highlight=False)


@card_app.command("renew")
@handle_errors
def card_renew(
    card_number: str = typer.Argument(..., help="Numéro de la carte à renouveler"),
    out: Path = typer.Option(None, "--out"),
) -> None:
    """Renew a card for the same holder (habilitations follow the holder)."""
    from sceau.registration.use_cases.cards import renew_card

    services = container()
    card = renew_card(
        services, card_number, actor=OPERATOR, environment=services.settings.environment
    )
    target = _write_card(card, out, services.settings.home / "cards")
    console.print(
        f"carte {card.card_number} émise (remplace {card_number}): {target}", highlight=False
    )
    console.print(f"mot de passe du PKCS#12: {card.password.decode()}", highlight=False)


# ---------------------------------------------------------------------------- habilitations


@habilitation_app.command("request")
@handle_errors
def habilitation_request(
    structure: str = typer.Option(..., "--structure", help="FINESS géographique ou IDNST"),
    status: str = typer.Option(..., "--status", help="éditeur ou pharmacien"),
    name: str = typer.Option(..., "--name", help="Nom de l'administrateur technique"),
    card_number: str = typer.Option(..., "--card", help="Numéro de carte CPA/CPS"),
    email: str = typer.Option(..., "--email"),
    phone: str = typer.Option(None, "--phone"),
) -> None:
    """Record the certificate section of a SEGUR order form (habilitation request)."""
    from sceau.registration.use_cases.habilitations import (
        AdministratorForm,
        RequestHabilitationCommand,
        request_habilitation,
    )

    request = request_habilitation(
        container(),
        RequestHabilitationCommand(
            structure, AdministratorForm(status, name, card_number, email, phone), actor=OPERATOR
        ),
    )
    console.print(f"demande d'habilitation n° {request.id} enregistrée ({request.structure_idnst})")


@habilitation_app.command("approve")
@handle_errors
def habilitation_approve(request_id: int = typer.Argument(...)) -> None:
    from sceau.registration.use_cases.habilitations import approve_habilitation

    habilitation = approve_habilitation(container(), request_id, OPERATOR)
    console.print(
        f"habilité: {habilitation.administrator_name} ({habilitation.person_idnat}) pour "
        f"{habilitation.structure_idnst}; notification enregistrée pour {habilitation.email}",
        highlight=False,
    )


@habilitation_app.command("reject")
@handle_errors
def habilitation_reject(
    request_id: int = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="Motif du rejet"),
) -> None:
    from sceau.registration.use_cases.habilitations import reject_habilitation

    request = reject_habilitation(container(), request_id, reason, OPERATOR)
    console.print(f"demande {request.id} rejetée: {request.reason}", highlight=False)


@habilitation_app.command("replace")
@handle_errors
def habilitation_replace(
    structure: str = typer.Option(..., "--structure"),
    old: str = typer.Option(
        ..., "--old", help="idNat ou numéro de carte de l'administrateur sortant"
    ),
    status: str = typer.Option(..., "--status", help="éditeur ou pharmacien"),
    name: str = typer.Option(..., "--name"),
    card_number: str = typer.Option(..., "--card"),
    email: str = typer.Option(..., "--email"),
    phone: str = typer.Option(None, "--phone"),
) -> None:
    """Form 503: change of technical administrator (old rights removed at once)."""
    from sceau.registration.use_cases.habilitations import (
        AdministratorForm,
        ReplaceAdministratorCommand,
        replace_administrator,
    )

    habilitation = replace_administrator(
        container(),
        ReplaceAdministratorCommand(
            structure,
            old,
            AdministratorForm(status, name, card_number, email, phone),
            actor=OPERATOR,
        ),
    )
    console.print(
        f"administrateur technique de {habilitation.structure_idnst}: "
        f"{habilitation.administrator_name} ({habilitation.person_idnat}); "
        f"{old} n'a plus de droits",
        highlight=False,
    )


@habilitation_app.command("withdraw")
@handle_errors
def habilitation_withdraw(
    structure: str = typer.Option(..., "--structure"),
    administrator: str = typer.Option(..., "--administrator", help="idNat ou numéro de carte"),
    reason: str = typer.Option("délégation retirée par le représentant légal", "--reason"),
) -> None:
    from sceau.registration.use_cases.habilitations import withdraw_habilitation

    habilitation = withdraw_habilitation(container(), structure, administrator, reason, OPERATOR)
    console.print(
        f"habilitation retirée: {habilitation.person_idnat} sur {habilitation.structure_idnst}"
    )


@habilitation_app.command("list")
@handle_errors
def habilitation_list(
    structure: str = typer.Option(None, "--structure"),
    pending: bool = typer.Option(False, "--pending", help="Les demandes en attente plutôt"),
    include_revoked: bool = typer.Option(
        False, "--all", help="Y compris les habilitations retirées"
    ),
) -> None:
    from sceau.registration.use_cases.habilitations import list_habilitations, list_requests

    services = container()
    if pending:
        table = Table("n°", "structure", "statut", "administrateur", "carte", "e-mail")
        for request in list_requests(services, OPERATOR):
            table.add_row(
                str(request.id),
                request.structure_idnst,
                request.administrator_status,
                request.administrator_name,
                request.card_number,
                request.email,
            )
        console.print(table)
        return
    table = Table("n°", "structure", "statut", "administrateur", "idNat", "depuis", "retrait")
    for habilitation in list_habilitations(
        services, OPERATOR, structure=structure, include_revoked=include_revoked
    ):
        table.add_row(
            str(habilitation.id),
            habilitation.structure_idnst,
            habilitation.administrator_status,
            habilitation.administrator_name,
            habilitation.person_idnat,
            f"{habilitation.granted_at:%Y-%m-%d}",
            habilitation.revocation_reason or "",
        )
    console.print(table)


# ------------------------------------------------------------------------------------ demo


@demo_app.callback()
@handle_errors
def demo(
    structures: int = typer.Option(50, "--structures", help="Pharmacies du fichier généré"),
) -> None:
    """Load demo data: pharmacies, a vendor with contract, its administrator (CPA), a
    pharmacist (CPS), approved habilitations; cards under $SCEAU_HOME/demo-cards/."""
    from sceau.demo import load_demo_data

    summary = load_demo_data(container(), structures=structures)
    for line in summary:
        console.print(line, highlight=False)
