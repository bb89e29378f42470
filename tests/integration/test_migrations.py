"""Alembic migrations up and down on a fresh database of each engine, and no drift between the
models and the migrated schema (what ``alembic check`` reports)."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from conftest import PG_ADMIN_URL
from sceau.registration.audit_chain import verify_chain
from sceau.storage.audit_repository import AuditChainRepository
from sceau.storage.database import alembic_config, make_engine, session_factory
from sceau.storage.tables import Base


@pytest.fixture
def empty_database(db_engine, tmp_path):
    """A database with nothing in it (not even Alembic's table)."""
    if db_engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"sceau_migrations_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def drift(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_one_head_only():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_upgrade_downgrade_upgrade_without_drift(empty_database):
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    assert drift(empty_database) == []
    assert set(Base.metadata.tables) <= tables(empty_database)
    command.downgrade(config, "base")
    assert tables(empty_database) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert drift(empty_database) == []


def test_every_revision_steps_down_and_up(empty_database):
    """Each downgrade on its own, from the head to the base, then each upgrade back."""
    config = alembic_config(empty_database)
    script = ScriptDirectory.from_config(config)
    revisions = [r.revision for r in script.walk_revisions()]  # head first
    command.upgrade(config, "head")
    for _ in revisions:
        command.downgrade(config, "-1")
    assert tables(empty_database) <= {"alembic_version"}
    for _ in revisions:
        command.upgrade(config, "+1")
    assert drift(empty_database) == []


def test_audit_migration_chains_existing_events(empty_database):
    """Events logged before the audit chain existed (ids with gaps) are renumbered and chained."""
    config = alembic_config(empty_database)
    script = ScriptDirectory.from_config(config)
    before = script.get_revision("0007").down_revision
    command.upgrade(config, before)
    engine = make_engine(empty_database)
    at = dt.datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)
    with engine.begin() as connection:
        for event_id in (3, 7, 8):
            connection.execute(
                text(
                    "INSERT INTO audit_events (id, at, actor, action, target, outcome, details, "
                    "source) VALUES (:i, :at, 'operator', 'ca.create', :t, 'success', :d, NULL)"
                ),
                {
                    "i": event_id,
                    "at": at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at,
                    "t": f"T{event_id}",
                    "d": '{"b": 1, "a": [true, null]}',
                },
            )
    engine.dispose()
    command.upgrade(config, "head")
    engine = make_engine(empty_database)
    with session_factory(engine)() as session:
        audit = AuditChainRepository(session)
        events = list(audit.chain())
        report = verify_chain(events, head=audit.head())
        assert report.ok, report.problems
        assert [e.id for e in events] == [1, 2, 3]
        assert [e.target for e in events] == ["T3", "T7", "T8"]
        assert events[0].at == at and events[0].details == {"a": [True, None], "b": 1}
        audit.record(at=at, actor="operator", action="test", outcome="success")
        session.commit()
        assert verify_chain(audit.chain(), head=audit.head()).ok
    engine.dispose()
    command.downgrade(config, before)
