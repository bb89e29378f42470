"""``sceau serve``: first run on embedded defaults, then uvicorn (optionally TLS + card).

On the TEST environment the first start creates what a newcomer needs (data directory,
database, TEST hierarchy, demo registry with its cards as PKCS#12 files) and prints the URL
and where the cards and their passwords are, so that one can import a card in a browser and
log in at once (``--tls``: uvicorn asks the browser for the card itself).
"""

from __future__ import annotations

from typing import Any

from sceau.bootstrap import Container, ensure_home, prepare_database


def _registry_is_empty(services: Container) -> bool:
    with services.unit_of_work() as uow:
        return uow.structures.count() == 0 and not uow.persons.search(None, limit=1)


def prepare_first_run(services: Container, *, demo: bool | None) -> list[str]:
    """Idempotent: home, schema, TEST hierarchy; the demo registry and cards when ``demo``
    (``None``: on a first run, i.e. a TEST environment whose registry is still empty)."""
    from sceau.registration.use_cases.certificate_authorities import create_hierarchy

    settings = services.settings
    graph: Any = services  # structurally a registration.ports.Services
    lines: list[str] = []
    ensure_home(settings)
    prepare_database(settings)
    if settings.environment == "test":
        created = create_hierarchy(graph, "test", services.publication("test"))
        lines += [f"AC créée: {authority.subject}" for authority in created]
        if created:
            from sceau.registration.use_cases.revocation_status import publish_revocation_status

            publish_revocation_status(graph)
    if demo is None:
        demo = settings.environment == "test" and _registry_is_empty(services)
    if demo and settings.environment == "test":
        from sceau.demo import load_demo_data

        lines += load_demo_data(services)
    return lines


def run_server(
    services: Container,
    *,
    host: str,
    port: int,
    tls: bool,
    tls_hostname: str | None,
    demo: bool | None,
    echo: Any,
) -> None:
    import uvicorn

    from sceau.auth.settings import AuthSettings
    from sceau.web.app import create_app

    lines = prepare_first_run(services, demo=demo)
    for line in lines:
        echo(line)
    cards = services.settings.home / "demo-cards"
    if cards.is_dir() and not any(line.startswith("carte ") for line in lines):
        for p12 in sorted(cards.glob("*.p12")):
            echo(f"carte de démonstration: {p12} (mot de passe: {p12.with_suffix('.password')})")
    options: dict[str, Any] = {}
    if tls:
        from sceau.web.tls import ensure_server_certificate, uvicorn_tls_options

        hostname = tls_hostname or AuthSettings().tls_hostname
        files = ensure_server_certificate(services, hostname)
        options = uvicorn_tls_options(files)
        echo(f"certificat serveur SERV SSL {files.serial} pour {hostname} ({files.certificate})")
        echo(f"sceau écoute sur https://{hostname}:{port}/ (adresse {host})")
        echo(
            "connexion par carte: importer un fichier .p12 de "
            f"{services.settings.home / 'demo-cards'} dans le navigateur (mot de passe dans le "
            "fichier .password voisin), puis « Se connecter avec CARTE CPS »"
        )
    else:
        echo(f"sceau écoute sur http://{host}:{port}/")
        echo(
            "connexion par carte: relancer avec `sceau serve --tls` (ou derrière nginx, "
            "voir docs/adr/0003-card-login.md)"
        )
    application = create_app(services)
    # proxy_headers=False: uvicorn would otherwise take X-Forwarded-For/-Proto from 127.0.0.1
    # and rewrite the peer address, which the card-header trust decision relies on
    # (sceau.auth.proxy reads forwarded headers itself, from SCEAU_TRUSTED_PROXIES only).
    uvicorn.run(
        application, host=host, port=port, log_level="warning", proxy_headers=False, **options
    )
