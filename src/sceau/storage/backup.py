"""Portable backups: the database table by table, the configuration, the key material.

The archive (tar.gz) holds:

- ``manifest.json``: format, Alembic revision, source engine, tables with their column types,
  key files with their SHA-256 and original paths, PKCS#11 references;
- ``tables/NNN-<table>.jsonl``: one JSON array per row in dependency order, with explicit
  column types (binary as base64, datetimes as ISO 8601 UTC), so that a backup made on
  SQLite restores on PostgreSQL and back;
- ``settings.json``: the non-secret settings (secrets are never written);
- ``keys/``: the CA, OCSP and audit key files *as they are* (encrypted PKCS#8, never
  decrypted). HSM keys stay in the HSM; only their ``pkcs11:`` references are kept.

Neither the CA passphrase nor the PKCS#11 PIN is in a backup: keep them apart.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    func,
    inspect,
    select,
    text,
)

from sceau.pki.errors import ErrorKind, SceauError
from sceau.storage.tables import Base, UtcDateTime

FORMAT = "sceau-backup/1"
KEY_REFERENCE_COLUMNS = ("key_reference",)
BATCH = 500
SKIP_WHEN_CHECKING_EMPTY = {"audit_chain_head"}  # made by the migration itself


class BackupError(SceauError):
    """A backup could not be made or restored; the message says why."""


@dataclass
class BackupSummary:
    path: Path
    revision: str
    rows: dict[str, int]
    key_files: list[str]
    pkcs11_references: list[str]
    warnings: list[str] = field(default_factory=list)


@dataclass
class RestoreSummary:
    revision: str
    rows: dict[str, int]
    key_files: list[Path]
    relocated_references: int
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- column values


def column_kind(column: Any) -> str:
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return "datetime"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int"
    if isinstance(kind, Float):
        return "float"
    if isinstance(kind, LargeBinary):
        return "bytes"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, String):
        return "str"
    raise BackupError("backup_column_type", f"no backup encoding for {column} ({kind!r})")


def encode_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "datetime":
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if kind == "date":
        return value.isoformat()
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return value


def decode_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "bytes":
        return base64.b64decode(value, validate=True)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    return value


def public_settings(settings: BaseModel) -> dict[str, Any]:
    """Every setting except the secrets (passphrases, PINs, passwords)."""
    dumped = settings.model_dump(mode="json")
    return {
        name: value
        for name, value in dumped.items()
        if not isinstance(getattr(settings, name, None), SecretStr)
    }


# ------------------------------------------------------------------------------- reading


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _self_references(table: Table) -> list[str]:
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]


def _rows(connection: Connection, table: Table) -> Iterator[dict[str, Any]]:
    query = select(table).order_by(*table.primary_key.columns)
    for row in connection.execute(query.execution_options(yield_per=BATCH)):
        yield dict(row._mapping)


def _ordered(table: Table, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows such that a row's parent (self-referencing foreign key) comes before it."""
    references = _self_references(table)
    if not references:
        yield from rows
        return
    (key,) = [c.name for c in table.primary_key.columns]
    pending = list(rows)
    done: set[Any] = set()
    while pending:
        later = []
        for row in pending:
            if all(row[r] is None or row[r] in done or row[r] == row[key] for r in references):
                done.add(row[key])
                yield row
            else:
                later.append(row)
        if len(later) == len(pending):  # a cycle or a dangling reference: keep as is
            yield from later
            return
        pending = later


def _key_files(
    keys_dir: Path, references: Iterable[str], warnings: list[str]
) -> dict[Path, list[str]]:
    """Key files to copy: everything in the keys folder, plus referenced files elsewhere."""
    found: dict[Path, list[str]] = {}
    if keys_dir.is_dir():
        for path in sorted(keys_dir.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):
                found.setdefault(path.resolve(), []).append(str(path))
    for reference in references:
        if not reference.startswith("file:"):
            continue
        original = reference.removeprefix("file:")
        path = Path(original)
        if not path.is_file():
            warnings.append(f"key file {original} is referenced but missing: not in the backup")
            continue
        found.setdefault(path.resolve(), [])
        if original not in found[path.resolve()]:
            found[path.resolve()].append(original)
    return found


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
    archive.addfile(info, io.BytesIO(data))


def create_backup(
    engine: Engine, keys_dir: Path, settings: dict[str, Any], path: Path
) -> BackupSummary:
    """Write a backup archive of the database, the settings and the key files to ``path``."""
    warnings: list[str] = []
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "source_engine": engine.dialect.name,
        "tables": [],
        "keys": [],
        "pkcs11_references": [],
        "keys_dir": str(keys_dir),
    }
    rows_count: dict[str, int] = {}
    references: list[str] = []
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
        # One read transaction: a consistent snapshot on PostgreSQL (REPEATABLE READ).
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                revision = current_revision(connection)
                if revision is None:
                    raise BackupError("backup_no_schema", "the database has no sceau schema")
                manifest["alembic_revision"] = revision
                for index, table in enumerate(Base.metadata.sorted_tables):
                    columns = [(c.name, column_kind(c)) for c in table.columns]
                    buffer = io.BytesIO()
                    count = 0
                    for row in _ordered(table, _rows(connection, table)):
                        values = [encode_value(kind, row[name]) for name, kind in columns]
                        buffer.write(json.dumps(values, ensure_ascii=False).encode() + b"\n")
                        count += 1
                        for name, _kind in columns:
                            if name in KEY_REFERENCE_COLUMNS and row[name]:
                                references.append(row[name])
                    member = f"tables/{index:03d}-{table.name}.jsonl"
                    _add_bytes(archive, member, buffer.getvalue())
                    manifest["tables"].append(
                        {
                            "name": table.name,
                            "file": member,
                            "rows": count,
                            "columns": [{"name": n, "type": k} for n, k in columns],
                        }
                    )
                    rows_count[table.name] = count
        used_names: dict[str, str] = {}
        for resolved, originals in _key_files(keys_dir, references, warnings).items():
            data = resolved.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            name = resolved.name
            suffix = 2
            while name in used_names and used_names[name] != digest:
                name = f"{resolved.stem}-{suffix}{resolved.suffix}"
                suffix += 1
            if name not in used_names:
                used_names[name] = digest
                _add_bytes(archive, f"keys/{name}", data)
            manifest["keys"].append(
                {"file": f"keys/{name}", "sha256": digest, "originals": originals}
            )
        manifest["pkcs11_references"] = sorted({r for r in references if r.startswith("pkcs11:")})
        manifest["warnings"] = warnings
        settings_json = json.dumps(settings, indent=2, sort_keys=True)
        _add_bytes(archive, "settings.json", settings_json.encode())
        _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
    os.replace(tmp, path)
    return BackupSummary(
        path=path,
        revision=manifest["alembic_revision"],
        rows=rows_count,
        key_files=sorted({k["file"] for k in manifest["keys"]}),
        pkcs11_references=manifest["pkcs11_references"],
        warnings=warnings,
    )


# ------------------------------------------------------------------------------ restoring


class _Archive:
    """Reads members by name; never extracts paths chosen by the archive."""

    def __init__(self, path: Path):
        try:
            self._tar = tarfile.open(path, mode="r:gz")  # noqa: SIM115 - closed by close()
            self._members = {m.name: m for m in self._tar.getmembers() if m.isfile()}
        except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
            raise BackupError("backup_unreadable", f"{path} is not a sceau backup: {exc}") from exc

    def read(self, name: str) -> bytes:
        member = self._members.get(name)
        if member is None:
            raise BackupError("backup_incomplete", f"the backup has no {name}")
        try:
            handle = self._tar.extractfile(member)
            assert handle is not None
            return handle.read()
        except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
            message = f"cannot read {name} from the backup: {exc}"
            raise BackupError("backup_corrupt", message) from exc

    def close(self) -> None:
        self._tar.close()


def _check_member_name(name: str) -> str:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or len(pure.parts) != 2:
        raise BackupError("backup_member", f"refusing archive member {name!r}")
    return pure.parts[1]


def _restore_keys(
    archive: _Archive, manifest: dict[str, Any], keys_dir: Path, force: bool
) -> tuple[dict[str, str], list[Path]]:
    """Write key files into ``keys_dir`` (0600); map each original path to its new one."""
    mapping: dict[str, str] = {}
    written: list[Path] = []
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for entry in manifest["keys"]:
        data = archive.read(entry["file"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise BackupError("backup_corrupt", f"{entry['file']}: SHA-256 does not match")
        target = keys_dir / _check_member_name(entry["file"])
        if target.exists() and target.read_bytes() != data and not force:
            raise BackupError(
                "restore_key_exists",
                f"{target} exists with other content: restore with --force to replace it",
                ErrorKind.CONFLICT,
            )
        if not target.exists() or target.read_bytes() != data:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        written.append(target)
        for original in entry["originals"]:
            mapping[original] = str(target)
    return mapping, written


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL: move each serial sequence past the restored ids."""
    for table in Base.metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        column = keys[0].name
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column}
        ).scalar()
        if sequence is None:
            continue
        highest = connection.execute(select(func.max(table.c[column]))).scalar()
        connection.execute(
            text("SELECT setval(:s, :v, :called)"),
            {"s": sequence, "v": highest or 1, "called": highest is not None},
        )


def _relocate(row: dict[str, Any], mapping: dict[str, str]) -> int:
    """Point ``file:`` key references at the restored key files; returns how many moved."""
    moved = 0
    for name in KEY_REFERENCE_COLUMNS:
        reference = row.get(name)
        if isinstance(reference, str) and reference.startswith("file:"):
            old = reference.removeprefix("file:")
            new = mapping.get(old)
            if new is not None and new != old:
                row[name] = "file:" + new
                moved += 1
    return moved


def _non_empty_tables(connection: Connection) -> list[str]:
    return [
        table.name
        for table in Base.metadata.sorted_tables
        if table.name not in SKIP_WHEN_CHECKING_EMPTY
        and connection.execute(select(table).limit(1)).first() is not None
    ]


def restore_backup(
    engine: Engine,
    keys_dir: Path,
    path: Path,
    *,
    force: bool = False,
    relocate_keys: bool = True,
) -> RestoreSummary:
    """Load a backup into a database migrated to the backup's revision.

    Refuses a database that holds data unless ``force`` (then everything is replaced).
    With ``relocate_keys``, ``file:`` key references point at the restored key files.
    """
    archive = _Archive(path)
    try:
        manifest = json.loads(archive.read("manifest.json"))
        if manifest.get("format") != FORMAT:
            raise BackupError("backup_format", f"unknown backup format {manifest.get('format')!r}")
        settings = json.loads(archive.read("settings.json"))
        known = {table.name: table for table in Base.metadata.sorted_tables}
        with engine.connect() as connection:
            revision = current_revision(connection)
            if revision != manifest["alembic_revision"]:
                raise BackupError(
                    "restore_revision",
                    f"the backup is at schema revision {manifest['alembic_revision']}, the "
                    f"database at {revision or 'none'}: migrate it to the same revision first",
                    ErrorKind.CONFLICT,
                )
            occupied = _non_empty_tables(connection)
            if occupied and not force:
                raise BackupError(
                    "restore_not_empty",
                    "the target database already holds data ("
                    + ", ".join(occupied[:5])
                    + "): restore into an empty database, or use --force to replace it",
                    ErrorKind.CONFLICT,
                )
        for entry in manifest["tables"]:
            if entry["name"] not in known:
                raise BackupError("restore_table", f"table {entry['name']} unknown to this sceau")
            expected = [(c.name, column_kind(c)) for c in known[entry["name"]].columns]
            found = [(c["name"], c["type"]) for c in entry["columns"]]
            if found != expected:
                raise BackupError(
                    "restore_columns", f"table {entry['name']}: columns differ from this schema"
                )
        mapping, written = _restore_keys(archive, manifest, keys_dir, force)
        relocated = 0
        rows_count: dict[str, int] = {}
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
            for entry in manifest["tables"]:
                table = known[entry["name"]]
                columns = [(c["name"], c["type"]) for c in entry["columns"]]
                batch: list[dict[str, Any]] = []
                count = 0
                for line in archive.read(entry["file"]).splitlines():
                    values = json.loads(line)
                    row = {
                        name: decode_value(kind, value)
                        for (name, kind), value in zip(columns, values, strict=True)
                    }
                    if relocate_keys:
                        relocated += _relocate(row, mapping)
                    batch.append(row)
                    count += 1
                    if len(batch) >= BATCH:
                        connection.execute(table.insert(), batch)
                        batch = []
                if batch:
                    connection.execute(table.insert(), batch)
                if count != entry["rows"]:
                    raise BackupError("backup_corrupt", f"table {entry['name']}: rows missing")
                rows_count[entry["name"]] = count
            if connection.dialect.name == "postgresql":
                _reset_sequences(connection)
    finally:
        archive.close()
    return RestoreSummary(
        revision=manifest["alembic_revision"],
        rows=rows_count,
        key_files=written,
        relocated_references=relocated,
        settings=settings,
        warnings=list(manifest.get("warnings", [])),
    )
