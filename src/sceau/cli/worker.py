"""``sceau worker``: run the background jobs (outbox, expiry scan, CRL/OCSP refresh)."""

from __future__ import annotations

import signal
from typing import Any

import typer

from sceau.cli.common import console, container, handle_errors

app = typer.Typer(help="Tâches de fond : e-mails, rappels d'expiration, CRL et OCSP.")


@app.callback(invoke_without_command=True)
@handle_errors
def run(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Chaque tâche une fois, puis sortir"),
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Envoyer les e-mails en attente, puis sortir"
    ),
    interval: float = typer.Option(None, help="Secondes entre deux passages (défaut: réglage)"),
) -> None:
    """Run the worker loop until interrupted (SIGINT/SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    from sceau.worker.runner import Runner

    runner = Runner(container(), interval=interval)
    if until_idle:
        runner.run_until_idle()
        return
    if once:
        runner.run_once()
        return

    def _stop(*_: Any) -> None:
        runner.stop(timeout=0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(f"sceau worker {runner.owner} démarré", highlight=False)
    runner.loop()


@app.command("outbox")
@handle_errors
def outbox(
    status: str = typer.Option(None, help="pending, sent, failed, unknown…"),
    limit: int = typer.Option(50),
) -> None:
    """List outbox messages (failed and unknown ones need the operator)."""
    services = container()
    with services.unit_of_work() as uow:
        counts = uow.outbox.counts_by_status()
        rows = uow.outbox.list(status=status, limit=limit)
    console.print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), highlight=False)
    for row in rows:
        console.print(
            f"{row.id:>6} {row.status:<8} {row.attempts} {row.kind:<22} "
            f"{', '.join(row.recipients)} — {row.subject} {row.last_error or ''}",
            highlight=False,
        )


@app.command("requeue")
@handle_errors
def requeue(message_id: int) -> None:
    """Send a failed or unknown message again (operator decision; same Message-ID)."""
    services = container()
    with services.unit_of_work() as uow:
        done = uow.outbox.requeue(message_id, services.clock.now())
        uow.commit()
    console.print("remis en file" if done else "message introuvable ou pas en échec")
