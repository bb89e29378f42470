"""Fleet operations: order, renew and follow the certificates of thousands of structures.

``fleet order`` reads a CSV of structures (column ``structure``: FINESS or IDNST) and, for
each, orders the bundles asked for (``dmp,insi-auto``…). Keys are generated on every core
(``ProcessPoolExecutor``) while earlier structures are already being ordered, retrieved and
installed by a few HTTP threads.

Resumable: a local SQLite state file records each step of each (structure, bundle) —
``new`` → ``keyed`` (key files written) → ``ordered`` (order id known) → ``done``
(installed) or ``failed``. An interrupted run (Ctrl-C, or even SIGKILL) started again
continues where it stopped. It never orders twice: every order carries an
``Idempotency-Key`` fixed per (run, structure, bundle), so an order whose answer was lost
is returned by the server instead of being placed again. A CSV and a JSON report per
structure are written at the end of every run.

Per order, three HTTP calls at most: the order (issued in its answer), RETIRER of all its
certificates at once (``POST /orders/{id}/retrieve``), and the CGU/PC versions once per run.
By default the server draws each order's revocation code (160 bits, so it keeps a fast
HMAC of it instead of an argon2id hash); the code is written to the state file as soon as
the answer arrives. If that answer is lost (the process killed in between), the resumed
run finds the order retrieved and the code unknown: the report says so, and the
certificates can still be revoked with the token or a card. ``client_codes`` keeps the
former behaviour: a code made here, hashed with argon2id by the server once per order.
The keys are the ones this client generated and wrote: they are loaded once per order,
without OpenSSL's costly RSA consistency check (see ``keys.load_key_pem``).
"""

from __future__ import annotations

import concurrent.futures as futures
import csv
import ctypes
import datetime as dt
import json
import os
import re
import signal
import sqlite3
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from sceau.client.api import ApiError, SceauApi
from sceau.client.install import current_release, slots
from sceau.client.keys import generate_key_pem, load_key_pem, write_private
from sceau.client.ordering import (
    Fetched,
    Item,
    csrs_for,
    fetch_certificate,
    fetched_from,
    install_fetched,
    new_revocation_code,
    products_of,
    slot_for,
)
from sceau.client.renew import renew_slot
from sceau.pki.errors import SceauError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    structure TEXT NOT NULL, word TEXT NOT NULL, bundle TEXT NOT NULL, cn TEXT NOT NULL,
    state TEXT NOT NULL, idempotency_key TEXT NOT NULL, revocation_code TEXT NOT NULL,
    order_id INTEGER, serials TEXT, error TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (structure, word)
);
CREATE TABLE IF NOT EXISTS certificates (
    structure TEXT NOT NULL, word TEXT NOT NULL, slot TEXT NOT NULL, usage TEXT NOT NULL,
    serial TEXT NOT NULL, not_after TEXT NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (structure, slot)
);
"""


class FleetState:
    """The local state file; one connection shared by the threads under a lock."""

    def __init__(self, path: Path):
        self.path = Path(path)
        fresh = not self.path.exists()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if fresh:
            os.chmod(self.path, 0o600)  # holds revocation codes
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
        self.db.executescript(_SCHEMA)
        self.lock = threading.Lock()

    def run_id(self) -> str:
        with self.lock:
            row = self.db.execute("SELECT value FROM meta WHERE name = 'run_id'").fetchone()
            if row:
                return str(row[0])
            value = uuid.uuid4().hex
            self.db.execute("INSERT INTO meta VALUES ('run_id', ?)", (value,))
            return value

    def add_items(self, structures: list[str], items: list[Item]) -> None:
        run = self.run_id()
        now = _now()
        with self.lock:
            self.db.execute("BEGIN")
            for structure in structures:
                for item in items:
                    self.db.execute(
                        "INSERT OR IGNORE INTO items (structure, word, bundle, cn, state,"
                        " idempotency_key, revocation_code, updated_at)"
                        " VALUES (?, ?, ?, ?, 'new', ?, ?, ?)",
                        (
                            structure,
                            item.word,
                            item.bundle,
                            item.common_name,
                            f"fleet:{run}:{structure}:{item.word}",
                            new_revocation_code(),
                            now,
                        ),
                    )
            self.db.execute("COMMIT")

    def update(self, structure: str, word: str, **fields: Any) -> None:
        fields["updated_at"] = _now()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.lock:
            self.db.execute(
                f"UPDATE items SET {assignments} WHERE structure = ? AND word = ?",  # noqa: S608
                (*fields.values(), structure, word),
            )

    def record_certificate(
        self,
        structure: str,
        word: str,
        slot: str,
        usage: str,
        serial: str,
        not_after: str,
        path: str,
    ) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?)",
                (structure, word, slot, usage, serial, not_after, path),
            )

    def items(self, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        with self.lock:
            self.db.row_factory = sqlite3.Row
            rows = self.db.execute("SELECT * FROM items ORDER BY rowid").fetchall()
            self.db.row_factory = None
        return [dict(r) for r in rows if states is None or r["state"] in states]

    def certificates(self) -> list[dict[str, Any]]:
        with self.lock:
            self.db.row_factory = sqlite3.Row
            rows = self.db.execute("SELECT * FROM certificates ORDER BY structure, slot").fetchall()
            self.db.row_factory = None
        return [dict(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.lock:
            rows = self.db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
        return {str(state): int(count) for state, count in rows}

    def close(self) -> None:
        self.db.close()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def read_structures(path: Path) -> list[str]:
    """The ``structure`` column (or ``finess``/``idnst``) of a CSV, in order, without duplicates."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
                sample, delimiters=",;\t"
            )
        except csv.Error:  # one column, or nothing to tell delimiters apart
            dialect = csv.excel
        reader = csv.DictReader(handle, dialect=dialect)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        column = next((columns[c] for c in ("structure", "finess", "idnst") if c in columns), None)
        if column is None:
            raise SceauError(
                "fleet_csv", f"{path}: colonne « structure » (ou finess/idnst) attendue"
            )
        seen = dict.fromkeys(row[column].strip() for row in reader if row.get(column, "").strip())
    return list(seen)


@dataclass
class FleetOptions:
    target: Path
    actor_email: str
    workers: int = 4  # HTTP threads ordering/retrieving/installing
    key_processes: int | None = None  # default: every core
    retrieve: bool = True  # RETIRER (revocation code + CGU/PC) before downloading
    server_codes: bool = True  # the server draws each order's revocation code


class Interrupted(Exception):
    pass


def _key_stream(count: int, processes: int, stop: threading.Event) -> Iterator[bytes]:
    """``count`` fresh keys made on ``processes`` cores, yielded as they are ready."""
    if count == 0:
        return
    with futures.ProcessPoolExecutor(max_workers=processes, initializer=_ignore_sigint) as pool:
        window = processes * 4  # keep every core busy without queueing everything
        pending: set[futures.Future[bytes]] = set()
        submitted = 0
        try:
            while submitted < count or pending:
                while submitted < count and len(pending) < window and not stop.is_set():
                    pending.add(pool.submit(generate_key_pem))
                    submitted += 1
                if not pending:
                    return
                done, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                if stop.is_set():
                    return
        finally:
            for future in pending:
                future.cancel()


def _ignore_sigint() -> None:
    """Pool worker set-up: the parent decides when to stop (Ctrl-C reaches the whole process
    group), and on Linux a worker dies with its parent, even when the parent is SIGKILLed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:  # the parent already died before prctl
            os._exit(1)


def fleet_order(
    api: SceauApi,
    state: FleetState,
    structures: list[str],
    items: list[Item],
    options: FleetOptions,
    *,
    progress: Callable[[str, int], None] = lambda kind, n: None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Run (or resume) the fleet order; returns the counts by state at the end."""
    stop = stop or threading.Event()
    state.add_items(structures, items)
    bundles = api.bundles()
    product_lists = {item.bundle: products_of(bundles, item.bundle) for item in items}
    wanted = {(s, i.word) for s in structures for i in items}
    rows = [r for r in state.items() if (r["structure"], r["word"]) in wanted]
    progress(
        "certificates_done",
        sum(len(product_lists[r["bundle"]]) for r in rows if r["state"] == "done"),
    )
    work: list[dict[str, Any]] = [r for r in rows if r["state"] in ("keyed", "ordered")]
    to_key = [r for r in rows if r["state"] == "new"]
    keys_needed = sum(len(product_lists[r["bundle"]]) for r in to_key)
    progress("keys_total", keys_needed)

    # Keys are made at the pace orders complete: at most this many keyed orders wait for the
    # server. Racing ahead would only leave the server alone at the end, on one core, while
    # key generation could have used the core it leaves idle.
    ahead = threading.BoundedSemaphore(max(1, options.workers * 3))

    def process(row: dict[str, Any]) -> None:
        if stop.is_set():
            return
        try:
            _process_item(api, state, row, product_lists[row["bundle"]], options)
            progress("certificates_done", len(product_lists[row["bundle"]]))
        except (SceauError, OSError, ValueError) as exc:
            code = getattr(exc, "code", type(exc).__name__)
            state.update(row["structure"], row["word"], state="failed", error=f"{code}: {exc}")

    def process_keyed(row: dict[str, Any]) -> None:
        try:
            process(row)
        finally:
            ahead.release()

    with futures.ThreadPoolExecutor(max_workers=options.workers) as threads:
        running = [threads.submit(process, row) for row in work]
        processes = options.key_processes or os.cpu_count() or 1
        keys = _key_stream(keys_needed, processes, stop)
        for row in to_key:
            while not ahead.acquire(timeout=0.5):
                if stop.is_set():
                    break
            if stop.is_set():
                break
            count = len(product_lists[row["bundle"]])
            pems = []
            for pem in keys:
                pems.append(pem)
                progress("keys_done", 1)
                if len(pems) == count:
                    break
            if len(pems) < count or stop.is_set():
                ahead.release()
                break
            folder = options.target / row["structure"] / ".keys" / row["word"]
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for index, pem in enumerate(pems):
                write_private(folder / f"{index}.key.pem", pem)
            state.update(row["structure"], row["word"], state="keyed")
            row = {**row, "state": "keyed"}
            running.append(threads.submit(process_keyed, row))
        keys.close()  # type: ignore[attr-defined]
        futures.wait(running)
    return state.counts()


def _process_item(
    api: SceauApi,
    state: FleetState,
    row: dict[str, Any],
    products: list[Any],
    options: FleetOptions,
) -> None:
    structure, word = row["structure"], row["word"]
    folder = options.target / structure / ".keys" / word
    # Keys this client made and wrote itself: loaded once, for the CSRs and the install.
    keys = [
        load_key_pem((folder / f"{i}.key.pem").read_bytes(), own=True) for i in range(len(products))
    ]
    order_id = row["order_id"]
    order: dict[str, Any] | None = None
    if row["state"] == "keyed" or order_id is None:
        order = api.order(
            structure=structure,
            service_applicatif=row["cn"],
            actor_email=options.actor_email,
            csrs=csrs_for(keys, products, row["cn"]),
            bundle=row["bundle"],
            idempotency_key=row["idempotency_key"],
        )
        order_id = int(order["id"])
        state.update(structure, word, state="ordered", order_id=order_id)
    if order is None or any(p["state"] == "requested" for p in order["products"]):
        order = api.wait_issued(order_id)
    serials = [p["serial"] for p in order["products"]]
    if any(s is None for s in serials):
        reasons = "; ".join(p.get("rejection_reason") or p["state"] for p in order["products"])
        raise SceauError("order_rejected", f"demande {order_id} refusée: {reasons}")
    state.update(structure, word, serials=json.dumps(serials))
    item = Item(word, row["bundle"], row["cn"])
    fetched_all = _retrieve(api, state, row, order_id, serials, options)
    for (usage, _insi), key, fetched in zip(products, keys, fetched_all, strict=True):
        slot = slot_for(item, usage, len(products))
        installed = install_fetched(
            options.target / structure,
            slot,
            key,
            fetched,
            {
                "server": api.base_url,
                "structure": structure,
                "item": word,
                "usage": usage.value,
                "order_id": order_id,
            },
        )
        state.record_certificate(
            structure,
            word,
            slot,
            usage.value,
            fetched.serial,
            fetched.certificate.not_valid_after_utc.isoformat(),
            str(installed.slot / "current"),
        )
    state.update(structure, word, state="done", error=None)


def _retrieve(
    api: SceauApi,
    state: FleetState,
    row: dict[str, Any],
    order_id: int,
    serials: list[str],
    options: FleetOptions,
) -> list[Fetched]:
    """RETIRER the whole order in one call (or just download, when it already was)."""
    structure, word = row["structure"], row["word"]
    if options.retrieve and not _server_drawn(row["revocation_code"]):
        try:
            if options.server_codes:
                # Known only once answered: an empty code in the state means "lost".
                state.update(structure, word, revocation_code="")
                answer = api.retrieve_order(order_id)
                state.update(structure, word, revocation_code=answer["revocation_code"])
            else:
                answer = api.retrieve_order(order_id, row["revocation_code"])
            by_serial = {str(e["serial"]): fetched_from(e) for e in answer["certificates"]}
            return [by_serial[s] for s in serials]
        except ApiError as exc:
            if exc.status in (404, 405) and exc.code in ("not_found", "method_not_allowed"):
                return _retrieve_one_by_one(api, state, row, serials, options)
            if exc.code != "invalid_transition":
                raise
            # already retrieved (a resumed run): download below
    return [fetch_certificate(api, serial, None) for serial in serials]


def _server_drawn(code: str | None) -> bool:
    """A code the server drew (``ABCD-EFGH-…``, 8 groups of base32): the order was retrieved
    by an earlier run. Codes made here start with ``Rv-``."""
    return bool(code) and re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){7}", code or "") is not None


def _retrieve_one_by_one(
    api: SceauApi,
    state: FleetState,
    row: dict[str, Any],
    serials: list[str],
    options: FleetOptions,
) -> list[Fetched]:
    """A server without ``POST /orders/{id}/retrieve``: RETIRER each certificate with a code
    made here (kept in the state file first)."""
    code = row["revocation_code"]
    if options.server_codes or not code:
        code = new_revocation_code()
        state.update(row["structure"], row["word"], revocation_code=code)
    return [fetch_certificate(api, serial, code) for serial in serials]


def write_reports(state: FleetState, folder: Path) -> tuple[Path, Path]:
    """``fleet-report.csv`` (one line per certificate or failure) and ``fleet-report.json``
    (one entry per structure)."""
    folder.mkdir(parents=True, exist_ok=True)
    certificates = state.certificates()
    by_structure: dict[str, dict[str, Any]] = {}
    for row in state.items():
        entry = by_structure.setdefault(
            row["structure"], {"structure": row["structure"], "status": "complete", "orders": []}
        )
        entry["orders"].append(
            {
                "bundle": row["word"],
                "state": row["state"],
                "order_id": row["order_id"],
                "error": row["error"],
                "revocation_code_known": bool(row["revocation_code"]),
                "certificates": [
                    {k: c[k] for k in ("slot", "usage", "serial", "not_after", "path")}
                    for c in certificates
                    if c["structure"] == row["structure"] and c["word"] == row["word"]
                ],
            }
        )
        if row["state"] == "failed":
            entry["status"] = "failed"
        elif row["state"] != "done" and entry["status"] == "complete":
            entry["status"] = "incomplete"
    json_path = folder / "fleet-report.json"
    json_path.write_text(json.dumps(list(by_structure.values()), indent=2, ensure_ascii=False))
    csv_path = folder / "fleet-report.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "structure",
                "bundle",
                "state",
                "slot",
                "usage",
                "serial",
                "not_after",
                "path",
                "error",
            ]
        )
        for entry in by_structure.values():
            for order in entry["orders"]:
                if not order["certificates"]:
                    writer.writerow(
                        [
                            entry["structure"],
                            order["bundle"],
                            order["state"],
                            "",
                            "",
                            "",
                            "",
                            "",
                            order["error"] or "",
                        ]
                    )
                for c in order["certificates"]:
                    writer.writerow(
                        [
                            entry["structure"],
                            order["bundle"],
                            order["state"],
                            c["slot"],
                            c["usage"],
                            c["serial"],
                            c["not_after"],
                            c["path"],
                            order["error"] or "",
                        ]
                    )
    return csv_path, json_path


def fleet_renew(
    api: SceauApi,
    target: Path,
    structures: list[str],
    *,
    actor_email: str,
    window_days: int,
    workers: int = 4,
) -> list[dict[str, Any]]:
    """Renew every installed certificate of the structures that is inside its window."""
    jobs = [(s, slot) for s in structures for slot in slots(target / s)]

    def one(job: tuple[str, str]) -> dict[str, Any]:
        structure, slot = job
        try:
            outcome = renew_slot(
                api, target / structure, slot, actor_email=actor_email, window_days=window_days
            )
            return {
                "structure": structure,
                "slot": slot,
                "action": outcome.action,
                "old_serial": outcome.old_serial,
                "new_serial": outcome.new_serial,
                "days_left": outcome.days_left,
                "error": None,
            }
        except (SceauError, ApiError, OSError) as exc:
            return {
                "structure": structure,
                "slot": slot,
                "action": "failed",
                "old_serial": None,
                "new_serial": None,
                "days_left": None,
                "error": str(exc),
            }

    with futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))


def fleet_status(target: Path, structures: list[str]) -> list[dict[str, Any]]:
    """What is installed for each structure, with the days left."""
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    for structure in structures:
        for slot in slots(target / structure) or [""]:
            release = current_release(target / structure, slot) if slot else None
            if release is None:
                rows.append({"structure": structure, "slot": "", "serial": "", "days_left": None})
                continue
            cert = x509.load_pem_x509_certificate((release / "cert.pem").read_bytes())
            rows.append(
                {
                    "structure": structure,
                    "slot": slot,
                    "serial": format(cert.serial_number, "032x"),
                    "days_left": (cert.not_valid_after_utc - now).days,
                }
            )
    return rows
