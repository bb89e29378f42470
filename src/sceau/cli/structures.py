"""``sceau structure``: the structures certificates are issued to."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from sceau.cli.common import console, container, error_console, handle_errors

app = typer.Typer(help="Structures (FINESS, IDNST).", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    finess: str = typer.Option(..., "--finess", help="FINESS géographique (9 caractères)"),
    name: str = typer.Option(..., "--name", help="Raison sociale"),
    department: str = typer.Option(..., "--department", help="Code du département (69, 2A, 971…)"),
    finess_ej: str = typer.Option(None, "--finess-ej", help="FINESS juridique"),
    category: str = typer.Option("620", "--category", help="Catégorie FINESS (620 = officine)"),
    address: str = typer.Option(None, "--address", help="Adresse (voie)"),
    postcode: str = typer.Option(None, "--postcode", help="Code postal"),
    city: str = typer.Option(None, "--city", help="Commune"),
) -> None:
    """Add a structure on its FINESS géographique."""
    from sceau.registration.departments import state_value
    from sceau.registration.use_cases.structures import AddStructureCommand, add_structure

    services = container()
    structure = add_structure(
        services,
        AddStructureCommand(
            finess=finess,
            raison_sociale=name,
            department=department,
            finess_ej=finess_ej,
            category_code=category,
            environment=services.settings.environment,
            address=address,
            postcode=postcode,
            city=city,
            actor="operator:cli",
        ),
    )
    console.print(
        f"structure ajoutée: {structure.raison_sociale} — IDNST {structure.idnst} — "
        f"{state_value(structure.department_code)}",
        highlight=False,
    )


@app.command("show")
@handle_errors
def show(reference: str = typer.Argument(..., help="IDNST ou FINESS")) -> None:
    """Show a structure, its contract(s), legal representative and technical administrators."""
    from sceau.registration.use_cases.habilitations import list_habilitations
    from sceau.registration.use_cases.structures import show_structure

    services = container()
    structure = show_structure(services, reference, "operator:cli")
    lines = [
        f"IDNST: {structure.idnst}",
        f"raison sociale: {structure.raison_sociale}",
        f"FINESS ET: {structure.finess_et or '-'}  EJ: {structure.finess_ej or '-'}",
        f"département (ST): {structure.state}",
        f"adresse: {structure.address or '-'} {structure.postcode or ''} {structure.city or ''}",
        f"catégorie: {structure.category_code or '-'} {structure.category_label or ''}",
        f"état: {'ouverte' if structure.is_open else 'fermée'}",
    ]
    with services.unit_of_work() as uow:
        contracts = uow.contracts.for_holder(structure_id=structure.id)
        lines += [f"contrat: {c.reference} signé le {c.signed_on} ({c.status})" for c in contracts]
        for representative in uow.legal_representatives.for_structure(structure.id):
            person = uow.persons.by_id(representative.person_id)
            assert person is not None
            lines.append(
                f"représentant légal: {person.given_name} {person.family_name} ({person.idnat})"
            )
    for habilitation in list_habilitations(services, "operator:cli", structure=reference):
        lines.append(
            f"administrateur technique ({habilitation.administrator_status}): "
            f"{habilitation.administrator_name} ({habilitation.person_idnat})"
        )
    for line in lines:
        console.print(line, highlight=False)


@app.command("list")
@handle_errors
def list_structures(
    search: str = typer.Option(None, "--search", help="Raison sociale, FINESS ou IDNST"),
    limit: int = typer.Option(50, "--limit"),
    offset: int = typer.Option(0, "--offset"),
) -> None:
    """List structures (operator view: all of them)."""
    from sceau.registration.use_cases.structures import list_structures as list_use_case

    services = container()
    table = Table("IDNST", "raison sociale", "département", "catégorie", "état")
    for structure in list_use_case(services, "operator:cli", search, limit=limit, offset=offset):
        table.add_row(
            structure.idnst,
            structure.raison_sociale,
            structure.state,
            structure.category_code or "",
            "ouverte" if structure.is_open else "fermée",
        )
    console.print(table)


@app.command("close")
@handle_errors
def close(reference: str = typer.Argument(..., help="IDNST ou FINESS")) -> None:
    """Mark a structure closed."""
    from sceau.registration.use_cases.structures import close_structure

    structure = close_structure(container(), reference, "operator:cli")
    console.print(f"structure fermée: {structure.idnst}", highlight=False)


@app.command("representative")
@handle_errors
def representative(
    reference: str = typer.Argument(..., help="IDNST ou FINESS"),
    person: str = typer.Option(..., "--person", help="idNat du représentant légal"),
    function: str = typer.Option(None, "--function", help="Fonction (titulaire, gérant…)"),
) -> None:
    """Designate the legal representative of a structure."""
    from sceau.registration.use_cases.structures import (
        DesignateLegalRepresentativeCommand,
        designate_legal_representative,
    )

    designate_legal_representative(
        container(),
        DesignateLegalRepresentativeCommand(reference, person, function, actor="operator:cli"),
    )
    console.print(f"représentant légal de {reference}: {person}", highlight=False)


@app.command("import")
@handle_errors
def import_extract(
    path: Path = typer.Argument(
        ..., help="Extraction FINESS etalab (etalab-cs1100507-stock-*.csv)"
    ),
    batch_size: int = typer.Option(1000, "--batch-size", help="Lignes par transaction"),
    show_rejected: int = typer.Option(50, "--show-rejected", help="Lignes rejetées affichées"),
) -> None:
    """Import (upsert) the public FINESS extract; a second run changes nothing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from sceau.registration.use_cases.finess_import import import_finess_extract

    services = container()
    with path.open("rb") as handle:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=error_console,
        transient=True,
    ) as progress:
        task = progress.add_task("import FINESS", total=total or None)
        report = import_finess_extract(
            services,
            path,
            actor="operator:cli",
            environment=services.settings.environment,
            batch_size=batch_size,
            progress=lambda done: progress.update(task, completed=done),
        )
    console.print(
        f"lignes lues: {report.lines} — importées: {report.imported}, mises à jour: "
        f"{report.updated}, inchangées: {report.unchanged}, rejetées: {len(report.rejected)}",
        highlight=False,
    )
    for line in report.rejected[:show_rejected]:
        console.print(
            f"  ligne {line.line_number} [{line.code}]: {line.reason}",
            highlight=False,
            markup=False,
        )
    if len(report.rejected) > show_rejected:
        console.print(f"  … et {len(report.rejected) - show_rejected} autres lignes rejetées")
