"""``sceau structure``: the structures certificates are issued to."""

from __future__ import annotations

import typer
from rich.table import Table

from sceau.cli.common import console, container, handle_errors

app = typer.Typer(help="Structures (FINESS, IDNST).", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    finess: str = typer.Option(..., "--finess", help="FINESS géographique (9 caractères)"),
    name: str = typer.Option(..., "--name", help="Raison sociale"),
    department: str = typer.Option(..., "--department", help="Code du département (69, 2A, 971…)"),
    finess_ej: str = typer.Option(None, "--finess-ej", help="FINESS juridique"),
    category: str = typer.Option("620", "--category", help="Catégorie FINESS (620 = officine)"),
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
    from sceau.pki.errors import ErrorKind, SceauError
    from sceau.registration.departments import state_value

    services = container()
    with services.unit_of_work() as uow:
        structure = uow.structures.by_reference(reference)
        if structure is None:
            raise SceauError("structure_not_found", f"structure {reference!r} inconnue", ErrorKind.NOT_FOUND)
        console.print(f"IDNST: {structure.idnst}", highlight=False)
        console.print(f"raison sociale: {structure.raison_sociale}", highlight=False)
        console.print(f"FINESS ET: {structure.finess_et or '-'}  EJ: {structure.finess_ej or '-'}", highlight=False)
        console.print(f"département: {state_value(structure.department_code)}", highlight=False)


@app.command("list")
@handle_errors
def list_structures(
    search: str = typer.Option(None, "--search", help="Raison sociale, FINESS ou IDNST"),
    limit: int = typer.Option(50, "--limit"),
) -> None:
    services = container()
    table = Table("IDNST", "raison sociale", "département")
    with services.unit_of_work() as uow:
        for structure in uow.structures.search(search, limit=limit):
            table.add_row(structure.idnst, structure.raison_sociale, structure.department_code)
    console.print(table)
