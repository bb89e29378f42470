"""``sceau backup`` / ``sceau restore``: a portable archive of the database, the settings and
the key files (encrypted, as they are). The CA passphrase and the PKCS#11 PIN are never in it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sceau.cli.common import container, handle_errors


@handle_errors
def backup(file: Path = typer.Argument(..., help="Archive à écrire (.tar.gz)")) -> None:
    """Write a backup: database table by table, non-secret settings, key files (encrypted)."""
    from sceau.storage.backup import create_backup, public_settings

    services = container()
    settings = services.settings
    summary = create_backup(services.engine, settings.keys_dir, public_settings(settings), file)
    total = sum(summary.rows.values())
    typer.echo(
        f"sauvegarde écrite: {summary.path} (révision {summary.revision}, {total} lignes, "
        f"{len(summary.key_files)} fichier(s) de clé, "
        f"{len(summary.pkcs11_references)} référence(s) PKCS#11)"
    )
    for warning in summary.warnings:
        typer.echo(f"attention: {warning}", err=True)
    typer.echo("la phrase secrète des clés d'AC et le PIN PKCS#11 ne sont pas dans l'archive")


@handle_errors
def restore(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Archive de sauvegarde"),
    force: bool = typer.Option(False, "--force", help="Remplacer une base non vide"),
    keep_key_paths: bool = typer.Option(
        False, "--keep-key-paths", help="Garder les chemins de clés d'origine"
    ),
) -> None:
    """Restore a backup into the configured database (migrated first if new)."""
    from sceau.bootstrap import ensure_home, prepare_database
    from sceau.storage.backup import restore_backup

    services = container()
    settings = services.settings
    ensure_home(settings)
    prepare_database(settings)
    summary = restore_backup(
        services.engine, settings.keys_dir, file, force=force, relocate_keys=not keep_key_paths
    )
    restored_settings = settings.home / "restored-settings.json"
    restored_settings.write_text(json.dumps(summary.settings, indent=2, sort_keys=True))
    typer.echo(
        f"restauration faite: révision {summary.revision}, {sum(summary.rows.values())} lignes, "
        f"{len(summary.key_files)} fichier(s) de clé dans {settings.keys_dir}, "
        f"{summary.relocated_references} référence(s) de clé déplacée(s)"
    )
    typer.echo(f"configuration d'origine (sans secrets): {restored_settings}")
    for warning in summary.warnings:
        typer.echo(f"attention: {warning}", err=True)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
