"""``sceau token``: personal API tokens (create, list, revoke). The token is shown once."""

from __future__ import annotations

import typer
from rich.table import Table

from sceau.cli.common import console, container, handle_errors

app = typer.Typer(help="Jetons personnels de l'API REST.", no_args_is_help=True)


@app.command("create")
@handle_errors
def create(
    person: str = typer.Option(None, "--person", help="idNat de l'administrateur titulaire"),
    operator: bool = typer.Option(False, "--operator", help="Jeton de l'opérateur de l'AC"),
    name: str = typer.Option("api", "--name", help="Nom pour reconnaître le jeton"),
    scopes: str = typer.Option("read", "--scopes", help="read, order, revoke (séparés par ,)"),
    days: int = typer.Option(90, "--days", help="Durée de validité en jours"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="N'afficher que le jeton"),
) -> None:
    """Create a token bound to an administrator (or the operator); print it once."""
    from sceau.web.api.tokens import create_token, parse_scopes

    token, view = create_token(
        container(),
        name=name,
        scopes=parse_scopes(scopes),
        days=days,
        person_idnat=person,
        operator=operator,
    )
    if quiet:
        typer.echo(token)
        return
    console.print(
        f"jeton n°{view.id} pour {view.holder}, portées {', '.join(view.scopes)}, "
        f"expire le {view.expires_at:%d/%m/%Y}. Il ne sera plus jamais affiché:",
        highlight=False,
    )
    typer.echo(token)


@app.command("list")
@handle_errors
def list_(
    person: str = typer.Option(None, "--person", help="idNat: les jetons de cette personne"),
    all_: bool = typer.Option(False, "--all", help="Inclure les jetons révoqués"),
) -> None:
    """List tokens (never the tokens themselves: only their prefix)."""
    from sceau.web.api.tokens import list_tokens

    table = Table("n°", "nom", "préfixe", "titulaire", "portées", "expire", "révoqué", "utilisé")
    for view in list_tokens(container(), person_idnat=person, include_revoked=all_):
        table.add_row(
            str(view.id),
            view.name,
            view.prefix + "…",
            view.holder,
            ",".join(view.scopes),
            f"{view.expires_at:%Y-%m-%d}",
            f"{view.revoked_at:%Y-%m-%d}" if view.revoked_at else "",
            f"{view.last_used_at:%Y-%m-%d %H:%M}" if view.last_used_at else "",
        )
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(token_id: int = typer.Argument(..., help="Numéro du jeton")) -> None:
    """Revoke a token: it is refused from the next request on."""
    from sceau.web.api.tokens import revoke_token

    view = revoke_token(container(), token_id)
    console.print(f"jeton n°{view.id} ({view.prefix}…) révoqué", highlight=False)
