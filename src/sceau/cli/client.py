"""``sceau client``: the vendor / pharmacy side, against any sceau server URL."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sceau.cli.common import console, error_console, handle_errors
from sceau.client.api import SceauApi

app = typer.Typer(
    help="Côté éditeur / pharmacie: clés, CSR, commande, installation, contrôle.",
    no_args_is_help=True,
)
fleet_app = typer.Typer(help="Opérations de flotte (milliers de structures).", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")

SERVER = typer.Option(..., "--server", envvar="SCEAU_SERVER", help="URL du serveur sceau")
TOKEN = typer.Option(None, "--token", envvar="SCEAU_TOKEN", help="Jeton personnel sceau_…")
TOKEN_FILE = typer.Option(None, "--token-file", envvar="SCEAU_TOKEN_FILE", help="Fichier du jeton")
CARD_CERT = typer.Option(None, "--card-cert", help="Certificat client (PEM) de la carte")
CARD_KEY = typer.Option(None, "--card-key", help="Clé (PEM) du certificat client")
SERVER_CA = typer.Option(None, "--server-ca", help="AC du serveur https (PEM)")
EMAIL = typer.Option(
    ..., "--email", envvar="SCEAU_EMAIL", help="E-mail de l'acteur (notifications)"
)


def _api(
    server: str,
    token: str | None,
    token_file: Path | None,
    card_cert: Path | None,
    card_key: Path | None,
    server_ca: Path | None,
) -> SceauApi:
    from sceau.client.api import Credentials, SceauApi

    if token is None and token_file is not None:
        token = token_file.read_text().strip()
    cert = (str(card_cert), str(card_key)) if card_cert and card_key else None
    if token is None and cert is None:
        raise typer.BadParameter("--token, --token-file ou --card-cert/--card-key requis")
    return SceauApi(server, Credentials(token, cert, str(server_ca) if server_ca else True))


@app.command()
@handle_errors
def keygen(out: Path = typer.Option(..., "--out", help="Fichier de la clé (PEM, 0600)")) -> None:
    """Generate an RSA-2048 key here; it never leaves this machine."""
    from sceau.client.keys import generate_key, write_key

    write_key(out, generate_key())
    console.print(f"clé RSA-2048 écrite dans {out} (0600)", highlight=False)


@app.command()
@handle_errors
def csr(
    key: Path = typer.Option(..., "--key"),
    usage: str = typer.Option("auth_cli", "--usage", help="auth_cli, sign, conf, serv_ssl"),
    cn: str = typer.Option(
        ..., "--cn", help="Service applicatif (INSI-AUTO/INSI-MANU pour l'INSi)"
    ),
    insi: bool = typer.Option(False, "--insi", help="Certificat INSi: CN exact imposé"),
    out: Path = typer.Option(..., "--out"),
) -> None:
    """Make the CSR of a usage, the naming rules (INSi) checked first."""
    from sceau.client.csr import CsrRequest, build_csr
    from sceau.client.keys import read_key
    from sceau.pki.profiles import Usage

    request = CsrRequest(Usage.parse(usage), cn, insi=insi)
    out.write_bytes(build_csr(read_key(key), request))
    console.print(f"CSR écrite dans {out}", highlight=False)


@app.command()
@handle_errors
def order(
    structure: str = typer.Option(..., "--structure", help="FINESS ou IDNST"),
    bundle: str = typer.Option(..., "--bundle", help="dmp, insi-auto, insi-manu, psc… (dmp=CN)"),
    keys_dir: Path = typer.Option(..., "--keys-dir", help="Dossier des clés et du manifeste"),
    email: str = EMAIL,
    server: str = SERVER,
    token: str = TOKEN,
    token_file: Path = TOKEN_FILE,
    card_cert: Path = CARD_CERT,
    card_key: Path = CARD_KEY,
    server_ca: Path = SERVER_CA,
    idempotency_key: str = typer.Option(None, "--idempotency-key"),
) -> None:
    """Order one bundle for a structure: keys and CSRs made here, one per certificate."""
    from sceau.client.keys import generate_key_pem, write_private
    from sceau.client.ordering import Item, csrs_for, products_of, write_manifest

    item = Item.parse(bundle)
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _api(server, token, token_file, card_cert, card_key, server_ca) as api:
        products = products_of(api.bundles(), item.bundle)
        keys = [generate_key_pem() for _ in products]
        stem = f"{structure}-{item.word}"
        paths = []
        for index, pem in enumerate(keys):
            path = keys_dir / f"{stem}-{index}.key.pem"
            write_private(path, pem)
            paths.append(path)
        placed = api.order(
            structure=structure,
            service_applicatif=item.common_name,
            actor_email=email,
            csrs=csrs_for(keys, products, item.common_name),
            bundle=item.bundle,
            idempotency_key=idempotency_key,
        )
    manifest = {
        "server": server,
        "structure": structure,
        "item": item.word,
        "order_id": placed["id"],
        "products": [
            {"usage": usage.value, "key": str(path), "serial": p["serial"]}
            for (usage, _), path, p in zip(products, paths, placed["products"], strict=True)
        ],
    }
    write_manifest(keys_dir / f"order-{placed['id']}.json", manifest)
    console.print(f"demande {placed['id']} enregistrée ({len(products)} certificat(s))")
    typer.echo(placed["id"])


@app.command()
@handle_errors
def fetch(
    order_id: int = typer.Option(..., "--order"),
    keys_dir: Path = typer.Option(..., "--keys-dir"),
    revocation_code: str = typer.Option(
        None,
        "--revocation-code",
        envvar="SCEAU_REVOCATION_CODE",
        help="Code de révocation (généré sinon, gardé 0600)",
    ),
    timeout: float = typer.Option(300, "--timeout"),
    server: str = SERVER,
    token: str = TOKEN,
    token_file: Path = TOKEN_FILE,
    card_cert: Path = CARD_CERT,
    card_key: Path = CARD_KEY,
    server_ca: Path = SERVER_CA,
) -> None:
    """Wait until issued, RETIRER (revocation code, CGU/PC accepted) and save the chains."""
    from cryptography.hazmat.primitives import serialization

    from sceau.client.ordering import fetch_certificate, new_revocation_code, write_manifest

    manifest_path = keys_dir / f"order-{order_id}.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.setdefault("revocation_code", revocation_code or new_revocation_code())
    write_manifest(manifest_path, manifest)
    with _api(server, token, token_file, card_cert, card_key, server_ca) as api:
        placed = api.wait_issued(order_id, timeout=timeout)
        for entry, product in zip(manifest["products"], placed["products"], strict=True):
            fetched = fetch_certificate(api, product["serial"], manifest["revocation_code"])
            chain_path = Path(entry["key"]).with_name(
                Path(entry["key"]).name.replace(".key.pem", ".chain.pem")
            )
            chain_path.write_bytes(
                b"".join(
                    c.public_bytes(serialization.Encoding.PEM)
                    for c in [fetched.certificate, *fetched.chain]
                )
            )
            entry["serial"], entry["chain"] = fetched.serial, str(chain_path)
            console.print(
                f"{entry['usage']}: certificat {fetched.serial} → {chain_path}", highlight=False
            )
    write_manifest(manifest_path, manifest)


@app.command()
@handle_errors
def install(
    target: Path = typer.Option(..., "--target", help="Dossier lu par le logiciel"),
    order_id: int = typer.Option(None, "--order"),
    keys_dir: Path = typer.Option(None, "--keys-dir"),
    cert: Path = typer.Option(None, "--cert", help="Ou: chaîne PEM (feuille d'abord)"),
    key: Path = typer.Option(None, "--key"),
    slot: str = typer.Option(None, "--slot"),
    password_file: Path = typer.Option(None, "--p12-password-file"),
    rollback: bool = typer.Option(False, "--rollback", help="Revenir au certificat précédent"),
) -> None:
    """Install key + chain as PEM and PKCS#12 (ANS layout), atomically, keeping the previous."""
    from cryptography import x509

    from sceau.client.install import rollback as do_rollback
    from sceau.client.ordering import Fetched, Item, install_fetched, slot_for
    from sceau.pki.profiles import Usage

    password = password_file.read_bytes().strip() if password_file else None
    if rollback:
        if not slot:
            raise typer.BadParameter("--rollback exige --slot")
        console.print(f"restauré: {do_rollback(target, slot)}", highlight=False)
        return
    jobs = []
    if order_id is not None and keys_dir is not None:
        manifest = json.loads((keys_dir / f"order-{order_id}.json").read_text())
        item = Item.parse(manifest["item"])
        for entry in manifest["products"]:
            jobs.append(
                (
                    slot_for(item, Usage(entry["usage"]), len(manifest["products"])),
                    Path(entry["key"]),
                    Path(entry["chain"]),
                    {
                        "server": manifest["server"],
                        "structure": manifest["structure"],
                        "item": manifest["item"],
                        "usage": entry["usage"],
                        "order_id": order_id,
                    },
                )
            )
    elif cert and key and slot:
        jobs.append((slot, key, cert, {}))
    else:
        raise typer.BadParameter("--order + --keys-dir, ou --cert + --key + --slot")
    for slot_name, key_path, chain_path, meta in jobs:
        certificates = x509.load_pem_x509_certificates(chain_path.read_bytes())
        installed = install_fetched(
            target,
            slot_name,
            key_path.read_bytes(),
            Fetched(
                format(certificates[0].serial_number, "032x"), certificates[0], certificates[1:]
            ),
            meta,
            password,
        )
        console.print(f"{slot_name}: installé dans {installed.release}", highlight=False)


@app.command()
def check(
    path: Path = typer.Argument(..., help="Emplacement installé, dossier, .p12/.pfx, .pem, .cer"),
    ca: list[Path] = typer.Option([], "--ca", help="Ancre(s) de confiance (PEM/DER ou dossier)"),
    password: list[str] = typer.Option([], "--password", help="Mot(s) de passe PKCS#12"),
    password_file: Path = typer.Option(None, "--password-file"),
    key: Path = typer.Option(None, "--key", help="Clé PEM à part"),
    usage: str = typer.Option(None, "--usage", help="Usage attendu"),
    insi: bool = typer.Option(None, "--insi/--not-insi", help="Appliquer la règle INSi"),
    issuer_cn: str = typer.Option(None, "--issuer-cn", help="CN attendu de l'AC émettrice"),
    warn_days: int = typer.Option(30, "--warn-days"),
    revocation: str = typer.Option("auto", "--revocation", help="auto, ocsp, crl, none"),
    strict: bool = typer.Option(
        False, "--strict", help="Code de sortie non nul aussi sur un avertissement"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Check a certificate as the pharmacy software will use it; exit 1 on a problem."""
    from sceau.client.check import CheckOptions, Level, check_certificate, load_anchors
    from sceau.pki.profiles import Usage

    passwords = [p.encode() for p in password]
    if password_file:
        passwords.insert(0, password_file.read_bytes().strip())
    options = CheckOptions(
        trust_anchors=load_anchors(ca),
        passwords=tuple(passwords),
        key_path=key,
        usage=Usage.parse(usage) if usage else None,
        insi=insi,
        expected_issuer_cn=issuer_cn,
        warn_days=warn_days,
        revocation=revocation,
    )
    report = check_certificate(path, options)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "source": report.source,
                    "verdict": report.verdict.label,
                    "findings": [
                        {"check": f.check, "level": f.level.label, "message": f.message}
                        for f in report.findings
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        colours = {Level.OK: "green", Level.WARNING: "yellow", Level.ERROR: "red"}
        for finding in report.findings:
            colour = colours[finding.level]
            console.print(
                f"[{colour}]{finding.level.label:9}[/] {finding.check:11} {finding.message}",
                highlight=False,
                soft_wrap=True,
            )
        verdict = report.verdict
        console.print(
            f"[bold {colours[verdict]}]VERDICT: {verdict.label}[/] — {report.source}",
            highlight=False,
            soft_wrap=True,
        )
    if report.verdict is Level.ERROR or (strict and report.verdict is Level.WARNING):
        raise typer.Exit(1)


@app.command()
@handle_errors
def renew(
    target: Path = typer.Option(..., "--target"),
    slot: list[str] = typer.Option([], "--slot", help="Emplacement(s); tous par défaut"),
    window_days: int = typer.Option(30, "--window-days", help="Renouveler à J-n de l'expiration"),
    force: bool = typer.Option(False, "--force"),
    email: str = EMAIL,
    server: str = SERVER,
    token: str = TOKEN,
    token_file: Path = TOKEN_FILE,
    card_cert: Path = CARD_CERT,
    card_key: Path = CARD_KEY,
    server_ca: Path = SERVER_CA,
) -> None:
    """Renew what is inside its renewal window; do nothing otherwise (safe for a timer)."""
    from sceau.client.install import slots
    from sceau.client.renew import renew_slot

    problems = 0
    with _api(server, token, token_file, card_cert, card_key, server_ca) as api:
        for name in slot or slots(target):
            outcome = renew_slot(
                api, target, name, actor_email=email, window_days=window_days, force=force
            )
            if outcome.action == "renewed":
                console.print(f"{name}: renouvelé {outcome.old_serial} → {outcome.new_serial}")
            elif outcome.action == "expired":
                problems += 1
                error_console.print(
                    f"{name}: EXPIRÉ ({outcome.old_serial}): renouvellement "
                    "impossible, faire une nouvelle demande"
                )
            else:
                console.print(f"{name}: rien à faire ({outcome.days_left} jours restants)")
    if problems:
        raise typer.Exit(1)


@app.command()
@handle_errors
def inventory(
    root: Path = typer.Argument(...),
    password: list[str] = typer.Option([], "--password"),
    password_file: Path = typer.Option(None, "--password-file", help="Un mot de passe par ligne"),
    csv_out: Path = typer.Option(None, "--csv"),
    database: Path = typer.Option(None, "--db", help="Inventaire local SQLite"),
    warn_days: int = typer.Option(30, "--warn-days"),
) -> None:
    """Scan a folder tree of PEM, DER and PKCS#12 files; what expires when."""
    from sceau.client import inventory as inv

    passwords = [p.encode() for p in password]
    if password_file:
        passwords += [line.encode() for line in password_file.read_text().splitlines() if line]
    entries = inv.scan(root, passwords, warn_days=warn_days)
    if database:
        inv.save(database, root, entries)
    if csv_out:
        csv_out.write_text(inv.to_csv(entries))
    table = Table("expire", "jours", "état", "CN", "OU", "usage", "série", "fichier")
    for e in entries:
        table.add_row(
            f"{e.not_after:%Y-%m-%d}" if e.not_after else "",
            "" if e.days_left is None else str(e.days_left),
            e.state,
            e.subject_cn,
            e.idnst,
            e.usage,
            e.serial[:12],
            e.path,
        )
    console.print(table)


@fleet_app.command("order")
@handle_errors
def fleet_order_command(
    csv_path: Path = typer.Option(..., "--csv"),
    bundle: str = typer.Option(..., "--bundle", help="ex. dmp,insi-auto"),
    target: Path = typer.Option(Path("fleet"), "--target"),
    state_path: Path = typer.Option(
        None, "--state", help="Fichier d'état (défaut: <target>/fleet-state.sqlite)"
    ),
    workers: int = typer.Option(4, "--workers"),
    processes: int = typer.Option(None, "--key-processes", help="Défaut: tous les cœurs"),
    retrieve: bool = typer.Option(
        True, "--retrieve/--no-retrieve", help="RETIRER avant téléchargement"
    ),
    server_codes: bool = typer.Option(
        True,
        "--server-codes/--client-codes",
        help="Code de révocation de chaque demande tiré par le serveur (160 bits, rendu une "
        "fois et noté dans le fichier d'état) ou créé ici (haché en argon2id par le serveur)",
    ),
    email: str = EMAIL,
    server: str = SERVER,
    token: str = TOKEN,
    token_file: Path = TOKEN_FILE,
    card_cert: Path = CARD_CERT,
    card_key: Path = CARD_KEY,
    server_ca: Path = SERVER_CA,
) -> None:
    """Order bundles for every structure of a CSV; resumable, never orders twice."""
    from sceau.client.fleet import (
        FleetOptions,
        FleetState,
        fleet_order,
        read_structures,
        write_reports,
    )
    from sceau.client.ordering import parse_items

    structures = read_structures(csv_path)
    items = parse_items(bundle)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = FleetState(state_path or target / "fleet-state.sqlite")
    stop = threading.Event()
    interrupted = []

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.append(signum)
        stop.set()
        error_console.print(
            "interruption: fin des demandes en cours, puis arrêt (relancer pour reprendre)"
        )

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigint)
    with (
        _api(server, token, token_file, card_cert, card_key, server_ca) as api,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=error_console,
            transient=not sys.stderr.isatty(),
        ) as bar,
    ):
        total_certs = None
        keys_task = bar.add_task("clés RSA-2048", total=0)
        certs_task = bar.add_task("certificats", total=0)

        def progress(kind: str, n: int) -> None:
            nonlocal total_certs
            if kind == "keys_total":
                bar.update(keys_task, total=n)
            elif kind == "keys_done":
                bar.advance(keys_task, n)
            elif kind == "certificates_done":
                bar.advance(certs_task, n)

        from sceau.client.ordering import products_of

        bundles = api.bundles()
        per_structure = sum(len(products_of(bundles, i.bundle)) for i in items)
        bar.update(certs_task, total=per_structure * len(structures))
        counts = fleet_order(
            api,
            state,
            structures,
            items,
            FleetOptions(target, email, workers, processes, retrieve, server_codes),
            progress=progress,
            stop=stop,
        )
    csv_report, json_report = write_reports(state, target)
    state.close()
    console.print(
        f"états: {json.dumps(counts)}; rapports: {csv_report}, {json_report}", highlight=False
    )
    if interrupted:
        raise typer.Exit(130)
    if counts.get("failed"):
        raise typer.Exit(1)


@fleet_app.command("renew")
@handle_errors
def fleet_renew_command(
    csv_path: Path = typer.Option(..., "--csv"),
    target: Path = typer.Option(Path("fleet"), "--target"),
    window_days: int = typer.Option(30, "--window-days"),
    workers: int = typer.Option(4, "--workers"),
    email: str = EMAIL,
    server: str = SERVER,
    token: str = TOKEN,
    token_file: Path = TOKEN_FILE,
    card_cert: Path = CARD_CERT,
    card_key: Path = CARD_KEY,
    server_ca: Path = SERVER_CA,
) -> None:
    """Renew every installed certificate of the fleet that is inside its window."""
    from sceau.client.fleet import fleet_renew, read_structures

    with _api(server, token, token_file, card_cert, card_key, server_ca) as api:
        results = fleet_renew(
            api,
            target,
            read_structures(csv_path),
            actor_email=email,
            window_days=window_days,
            workers=workers,
        )
    (target / "fleet-renew-report.json").write_text(json.dumps(results, indent=2))
    summary: dict[str, int] = {}
    for r in results:
        summary[r["action"]] = summary.get(r["action"], 0) + 1
    console.print(f"renouvellement: {json.dumps(summary)}", highlight=False)
    if summary.get("failed") or summary.get("expired"):
        raise typer.Exit(1)


@fleet_app.command("status")
@handle_errors
def fleet_status_command(
    csv_path: Path = typer.Option(..., "--csv"),
    target: Path = typer.Option(Path("fleet"), "--target"),
    warn_days: int = typer.Option(30, "--warn-days"),
) -> None:
    """Installed certificates per structure, soonest expiry first; counts of the last run."""
    from sceau.client.fleet import FleetState, fleet_status, read_structures

    rows = fleet_status(target, read_structures(csv_path))
    table = Table("structure", "emplacement", "série", "jours")
    for row in sorted(rows, key=lambda r: (r["days_left"] is None, r["days_left"] or 0)):
        days = row["days_left"]
        style = "red" if days is None or days < warn_days else ""
        table.add_row(
            row["structure"],
            row["slot"] or "(rien)",
            row["serial"][:16],
            "" if days is None else str(days),
            style=style,
        )
    console.print(table)
    state_file = target / "fleet-state.sqlite"
    if state_file.exists():
        state = FleetState(state_file)
        console.print(f"dernière commande: {json.dumps(state.counts())}", highlight=False)
        state.close()
