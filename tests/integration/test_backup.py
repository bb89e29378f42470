"""Backups round trip: every table identical after restore (same engine and across engines),
certificates still verify, CA keys still sign, the audit chain still verifies."""

from __future__ import annotations

import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select, text

from conftest import PASS_PHRASE, PG_ADMIN_URL, make_csr
from sceau.bootstrap import Container
from sceau.config import Settings
from sceau.pki.errors import SceauError
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.audit import (
    anchor_audit_chain,
    ensure_audit_key,
    verify_audit_chain,
)
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
from sceau.registration.use_cases.revoke_certificate import RevokeCommand, revoke_certificate
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure
from sceau.storage.backup import (
    column_kind,
    create_backup,
    encode_value,
    public_settings,
    restore_backup,
)
from sceau.storage.database import make_engine, upgrade_database
from sceau.storage.tables import Base


@pytest.fixture
def fresh_database(tmp_path):
    """Makes empty, migrated databases of either engine; drops the PostgreSQL ones after."""
    made: list[str] = []

    def make(engine: str) -> str:
        if engine == "sqlite":
            url = f"sqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:6]}.db'}"
        else:
            name = f"sceau_restore_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            made.append(name)
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        upgrade_database(url)
        return url

    yield make
    if made:
        admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in made:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                    ),
                    {"n": name},
                )
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def populate(services, leaf_keys) -> list[str]:
    add_structure(
        services,
        AddStructureCommand(
            finess="010002301", raison_sociale="PHARMACIE DU ROND-POINT", department="01"
        ),
    )
    serials = []
    for index, name in enumerate(["INSI-AUTO", "LGC-PHARMA"]):
        issued = issue_certificate(
            services,
            IssueCommand(
                structure="010002301",
                usage=Usage.AUTH_CLI,
                service_applicatif=name,
                csr=make_csr(leaf_keys[index]),
                insi=name.startswith("INSI"),
            ),
            use_pkilint=False,
        )
        serials.append(issued.serial)
    revoke_certificate(
        services, RevokeCommand(serial=serials[1], reason=x509.ReasonFlags.superseded)
    )
    ensure_audit_key(services, key_size=2048)
    assert anchor_audit_chain(services) is not None
    return serials


def dump(engine) -> dict[str, list[list]]:
    """Every row of every table, engine-neutral, key references reduced to the file name."""
    content: dict[str, list[list]] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = list(table.columns)
            rows = []
            for row in connection.execute(select(table).order_by(*table.primary_key.columns)):
                values = []
                for column in columns:
                    value = encode_value(column_kind(column), row._mapping[column.name])
                    if column.name == "key_reference" and value.startswith("file:"):
                        value = "file:" + Path(value.removeprefix("file:")).name
                    values.append(value)
                rows.append(values)
            content[table.name] = rows
    return content


def restored_container(tmp_path: Path, url: str, clock) -> Container:
    home = tmp_path / f"restored-home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    return Container(
        settings=Settings(home=home, ca_passphrase=PASS_PHRASE, database_url=url), clock=clock
    )


def check_restored(services, restored: Container, serials: list[str], leaf_keys) -> None:
    assert dump(restored.engine) == dump(services.engine)
    with restored.unit_of_work() as uow:
        for serial in serials:
            row = uow.certificates.by_serial(serial)
            certificate = x509.load_der_x509_certificate(row.certificate_der)
            authority = uow.authorities.by_id(row.authority_id)
            issuer = x509.load_der_x509_certificate(authority.certificate_der)
            issuer.public_key().verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                padding.PKCS1v15(),
                certificate.signature_hash_algorithm,
            )
        for authority in uow.authorities.all():
            path = Path(authority.key_reference.removeprefix("file:"))
            assert path.parent == restored.settings.keys_dir
            assert path.stat().st_mode & 0o777 == 0o600
    assert verify_audit_chain(restored).ok
    # The CA key still signs, and new rows get fresh ids (sequences restored on PostgreSQL).
    issued = issue_certificate(
        restored,
        IssueCommand(
            structure="010002301",
            usage=Usage.AUTH_CLI,
            service_applicatif="NOUVEAU-LOGICIEL",
            csr=make_csr(leaf_keys[2]),
        ),
        use_pkilint=False,
    )
    assert issued.certificate.issuer == issued.chain[0].subject
    assert anchor_audit_chain(restored) is not None
    assert verify_audit_chain(restored).ok


def test_round_trip_on_the_same_engine(services, db_engine, fresh_database, tmp_path, leaf_keys):
    serials = populate(services, leaf_keys)
    archive = tmp_path / "sceau.tar.gz"
    summary = create_backup(
        services.engine, services.settings.keys_dir, public_settings(services.settings), archive
    )
    assert summary.rows["certificates"] == 2 and summary.rows["audit_anchors"] == 1
    assert archive.stat().st_mode & 0o777 == 0o600
    restored = restored_container(tmp_path, fresh_database(db_engine), services.clock)
    result = restore_backup(restored.engine, restored.settings.keys_dir, archive)
    assert result.rows == summary.rows and result.relocated_references >= 3
    check_restored(services, restored, serials, leaf_keys)

    # A database with data is not overwritten unless asked.
    with pytest.raises(SceauError) as refused:
        restore_backup(restored.engine, restored.settings.keys_dir, archive)
    assert refused.value.code == "restore_not_empty"
    restore_backup(restored.engine, restored.settings.keys_dir, archive, force=True)
    assert dump(restored.engine) == dump(services.engine)
    restored.close()


def test_backup_moves_between_engines(
    services, db_engine, fresh_database, tmp_path, leaf_keys, request
):
    if request.config.getoption("--db") != "both":
        pytest.skip("needs --db both (SQLite and PostgreSQL)")
    serials = populate(services, leaf_keys)
    archive = tmp_path / "sceau.tar.gz"
    create_backup(services.engine, services.settings.keys_dir, {}, archive)
    other = "postgresql" if db_engine == "sqlite" else "sqlite"
    restored = restored_container(tmp_path, fresh_database(other), services.clock)
    restore_backup(restored.engine, restored.settings.keys_dir, archive)
    check_restored(services, restored, serials, leaf_keys)
    restored.close()


def test_archive_holds_encrypted_keys_and_no_secret(services, tmp_path, leaf_keys):
    populate(services, leaf_keys)
    archive = tmp_path / "sceau.tar.gz"
    create_backup(
        services.engine, services.settings.keys_dir, public_settings(services.settings), archive
    )
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        members = {name: tar.extractfile(name).read() for name in names}
    keys = [name for name in names if name.startswith("keys/")]
    assert keys and all(b"ENCRYPTED PRIVATE KEY" in members[name] for name in keys)
    settings = json.loads(members["settings.json"])
    assert "ca_passphrase" not in settings and settings["environment"] == "test"
    for data in members.values():
        assert PASS_PHRASE.encode() not in data
    manifest = json.loads(members["manifest.json"])
    assert manifest["alembic_revision"] and manifest["tables"][0]["columns"]


def test_restore_checks_the_schema_revision(services, fresh_database, tmp_path, db_engine):
    archive = tmp_path / "sceau.tar.gz"
    create_backup(services.engine, services.settings.keys_dir, {}, archive)
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(members["manifest.json"])
    manifest["alembic_revision"] = "0001"
    members["manifest.json"] = json.dumps(manifest).encode()
    altered = tmp_path / "altered.tar.gz"
    with tarfile.open(altered, "w:gz") as tar:
        import io

        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target = restored_container(tmp_path, fresh_database(db_engine), services.clock)
    with pytest.raises(SceauError) as refused:
        restore_backup(target.engine, target.settings.keys_dir, altered)
    assert refused.value.code == "restore_revision"
    (tmp_path / "garbage.tar.gz").write_bytes(b"\x1f\x8b not really")
    with pytest.raises(SceauError) as unreadable:
        restore_backup(target.engine, target.settings.keys_dir, tmp_path / "garbage.tar.gz")
    assert unreadable.value.code == "backup_unreadable"
    target.close()
