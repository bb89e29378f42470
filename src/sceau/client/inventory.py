"""``sceau client inventory``: find every certificate in a folder tree and say when it expires.

PEM (bundles included), DER and PKCS#12 files are read; a PKCS#12 is opened with each
password of the list in turn (and the empty password). Results are kept in a local SQLite
inventory keyed by (path, certificate fingerprint), so repeated scans update it and a
certificate that disappeared from disk is marked gone rather than forgotten.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from sceau.client.check import recognise_usage
from sceau.client.files import PEM_SUFFIXES, PKCS12_SUFFIXES, load_material
from sceau.pki.errors import SceauError

MAX_FILE_BYTES = 1024 * 1024
CSV_FIELDS = (
    "path",
    "format",
    "subject_cn",
    "idnst",
    "organisation",
    "usage",
    "serial",
    "issuer_cn",
    "not_after",
    "days_left",
    "state",
    "fingerprint",
    "error",
)


@dataclass(frozen=True)
class Entry:
    path: str
    format: str
    subject_cn: str
    idnst: str
    organisation: str
    usage: str
    serial: str
    issuer_cn: str
    not_after: dt.datetime | None
    days_left: int | None
    state: str  # valid | expiring | expired | locked | unreadable
    fingerprint: str
    error: str = ""

    def row(self) -> dict[str, str]:
        values = {name: getattr(self, name) for name in CSV_FIELDS}
        values["not_after"] = self.not_after.isoformat() if self.not_after else ""
        values["days_left"] = "" if self.days_left is None else str(self.days_left)
        return {k: str(v) for k, v in values.items()}


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _entry(
    path: Path, fmt: str, certificate: x509.Certificate, now: dt.datetime, warn_days: int
) -> Entry:
    not_after = certificate.not_valid_after_utc
    days = (not_after - now).days if not_after > now else -((now - not_after).days + 1)
    state = "expired" if not_after <= now else "expiring" if days < warn_days else "valid"
    usage = recognise_usage(certificate)
    return Entry(
        path=str(path),
        format=fmt,
        subject_cn=_attribute(certificate.subject, NameOID.COMMON_NAME),
        idnst=_attribute(certificate.subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        organisation=_attribute(certificate.subject, NameOID.ORGANIZATION_NAME),
        usage=usage.value if usage else "",
        serial=format(certificate.serial_number, "032x"),
        issuer_cn=_attribute(certificate.issuer, NameOID.COMMON_NAME),
        not_after=not_after,
        days_left=days,
        state=state,
        fingerprint=hashlib.sha256(
            certificate.public_bytes(serialization.Encoding.DER)
        ).hexdigest(),
    )


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def scan_file(
    path: Path, passwords: Sequence[bytes], now: dt.datetime, warn_days: int = 30
) -> list[Entry]:
    """The end-entity certificates of one file (CA certificates of a chain are skipped)."""
    try:
        material = load_material(path, passwords)
    except SceauError as exc:
        state = "locked" if exc.code == "pkcs12_bad_password" else "unreadable"
        return [
            Entry(
                str(path),
                "pkcs12" if path.suffix.lower() in PKCS12_SUFFIXES else "?",
                "",
                "",
                "",
                "",
                "",
                "",
                None,
                None,
                state,
                "",
                exc.message,
            )
        ]
    except OSError as exc:
        return [
            Entry(str(path), "?", "", "", "", "", "", "", None, None, "unreadable", "", str(exc))
        ]
    certificates = [material.certificate, *material.others]
    leaves = [c for c in certificates if not _is_ca(c)]
    return [_entry(path, material.format, c, now, warn_days) for c in leaves]


def candidate_files(root: Path) -> Iterable[Path]:
    suffixes = (*PKCS12_SUFFIXES, *PEM_SUFFIXES)
    for path in sorted(Path(root).rglob("*")):
        if path.is_symlink() or not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        if path.suffix.lower() == ".key" or path.stat().st_size > MAX_FILE_BYTES:
            continue
        yield path


def scan(
    root: Path,
    passwords: Sequence[bytes] = (),
    *,
    now: dt.datetime | None = None,
    warn_days: int = 30,
) -> list[Entry]:
    """Every certificate under ``root``, soonest expiry first (unreadable files last)."""
    moment = now or dt.datetime.now(dt.UTC)
    entries: list[Entry] = []
    for path in candidate_files(root):
        entries.extend(scan_file(path, passwords, moment, warn_days))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(entries, key=lambda e: (e.not_after or far, e.path))


def to_csv(entries: Sequence[Entry]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for entry in entries:
        writer.writerow(entry.row())
    return buffer.getvalue()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS inventory (
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    format TEXT, subject_cn TEXT, idnst TEXT, organisation TEXT, usage TEXT, serial TEXT,
    issuer_cn TEXT, not_after TEXT, state TEXT, error TEXT,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, gone INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (path, fingerprint)
)
"""


def save(
    database: Path, root: Path, entries: Sequence[Entry], now: dt.datetime | None = None
) -> None:
    """Record a scan of ``root``: upsert what was found, mark what vanished as gone."""
    moment = (now or dt.datetime.now(dt.UTC)).isoformat()
    prefix = str(Path(root))
    with sqlite3.connect(database) as connection:
        connection.execute(_SCHEMA)
        connection.execute("UPDATE inventory SET gone = 1 WHERE path LIKE ? || '%'", (prefix,))
        for e in entries:
            connection.execute(
                """INSERT INTO inventory (path, fingerprint, format, subject_cn, idnst,
                       organisation, usage, serial, issuer_cn, not_after, state, error,
                       first_seen, last_seen, gone)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
                   ON CONFLICT (path, fingerprint) DO UPDATE SET state = excluded.state,
                       error = excluded.error, last_seen = excluded.last_seen, gone = 0""",
                (
                    e.path,
                    e.fingerprint,
                    e.format,
                    e.subject_cn,
                    e.idnst,
                    e.organisation,
                    e.usage,
                    e.serial,
                    e.issuer_cn,
                    e.not_after.isoformat() if e.not_after else None,
                    e.state,
                    e.error,
                    moment,
                    moment,
                ),
            )


def load(database: Path, *, include_gone: bool = False) -> list[dict[str, str]]:
    with sqlite3.connect(database) as connection:
        connection.execute(_SCHEMA)
        connection.row_factory = sqlite3.Row
        rows = connection.execute(
            "SELECT * FROM inventory WHERE gone = 0 OR ?"
            " ORDER BY not_after IS NULL, not_after, path",
            (1 if include_gone else 0,),
        ).fetchall()
    return [dict(r) for r in rows]
