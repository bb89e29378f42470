"""``sceau audit``: list the audit log, anchor it, verify the chain and its anchors.

Everything printed goes through ``escape_for_display``: a newline or an escape sequence
typed into a form is shown as ``\\n`` / ``\\x1b``, so it cannot fake a log line.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sceau.cli.common import container, handle_errors
from sceau.registration.audit_chain import escape_for_display as esc

app = typer.Typer(
    help="Journal d'audit chaîné (liste, ancrage, vérification).", no_args_is_help=True
)


@app.command("list")
@handle_errors
def list_events(
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Nombre d'événements"),
    action: str = typer.Option(None, "--action", help="Filtrer sur l'action (exacte)"),
    actor: str = typer.Option(None, "--actor", help="Filtrer sur l'acteur (exact)"),
    target: str = typer.Option(None, "--target", help="Filtrer sur la cible (exacte)"),
    as_json: bool = typer.Option(False, "--json", help="Une ligne JSON par événement"),
) -> None:
    """The newest events first, one per line (control characters escaped)."""
    from sceau.registration.use_cases.audit import list_audit_events

    lines = list_audit_events(container(), limit=limit, action=action, actor=actor, target=target)
    for line in lines:
        if as_json:
            # json.dumps escapes every control character: one event, one line.
            typer.echo(
                json.dumps(
                    {
                        "id": line.id,
                        "at": line.at.isoformat(),
                        "actor": line.actor,
                        "action": line.action,
                        "target": line.target,
                        "outcome": line.outcome,
                        "source": line.source,
                        "details": line.details,
                    },
                    ensure_ascii=True,
                    sort_keys=True,
                )
            )
            continue
        details = "" if line.details is None else json.dumps(line.details, sort_keys=True)
        typer.echo(
            f"{line.id}\t{line.at:%Y-%m-%d %H:%M:%S}Z\t{esc(line.outcome)}\t{esc(line.action)}"
            f"\tacteur={esc(line.actor)}\tcible={esc(line.target or '-')}"
            f"\tsource={esc(line.source or '-')}\t{esc(details)}"
        )


@app.command("anchor")
@handle_errors
def anchor(
    force: bool = typer.Option(False, "--force", help="Ancrer même sans nouvel événement"),
) -> None:
    """Sign the end of the chain with the audit key (made on first use)."""
    from sceau.registration.use_cases.audit import anchor_audit_chain

    result = anchor_audit_chain(container(), force=force)
    if result is None:
        typer.echo("rien à ancrer: journal vide ou déjà ancré à son dernier événement")
        return
    typer.echo(
        f"ancre {result.anchor_id}: événement {result.last_event_id}, "
        f"empreinte {result.chain_hash}, clé d'audit {result.key_id}"
    )


@app.command("public-key")
@handle_errors
def public_key(
    output: Path = typer.Option(None, "--output", "-o", help="Fichier PEM (défaut: stdout)"),
) -> None:
    """Export the audit public keys (PEM), to keep outside the database (``--public-key``)."""
    from sceau.registration.use_cases.audit import export_audit_public_keys

    pem = export_audit_public_keys(container())
    if output is None:
        typer.echo(pem.decode(), nl=False)
    else:
        output.write_bytes(pem)
        typer.echo(f"clés publiques d'audit écrites dans {output}")


@app.command("verify")
@handle_errors
def verify(
    public_keys: list[Path] = typer.Option(
        None, "--public-key", help="Clé publique d'audit de confiance (PEM), gardée hors base"
    ),
    no_key_files: bool = typer.Option(
        False, "--no-key-files", help="Ne pas comparer les clés d'audit avec le trousseau"
    ),
) -> None:
    """Check every event's hash and link, the chain head, and every anchor's signature."""
    from sceau.registration.use_cases.audit import verify_audit_chain

    pinned = [path.read_bytes() for path in public_keys] if public_keys else None
    report = verify_audit_chain(
        container(), pinned_public_keys=pinned, check_key_files=not no_key_files
    )
    for note in report.notes:
        typer.echo(f"note: {esc(note)}")
    span = (
        f"événements {report.first_event_id}..{report.last_event_id}" if report.events else "vide"
    )
    if report.ok:
        typer.echo(
            f"chaîne d'audit intègre: {report.events} événement(s) ({span}), "
            f"{report.anchors} ancre(s) vérifiée(s)"
        )
        return
    typer.echo(
        f"chaîne d'audit ROMPUE: {len(report.problems)} anomalie(s) sur {report.events} "
        f"événement(s), {report.anchors} ancre(s)",
        err=True,
    )
    for problem in report.problems:
        where = "-" if problem.event_id is None else str(problem.event_id)
        typer.echo(f"événement {where}\t{problem.kind}\t{esc(problem.message)}", err=True)
    raise typer.Exit(8)
