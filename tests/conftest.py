"""Shared fixtures: a CA hierarchy made once per session, and per-test databases.

Database-backed tests take the ``services`` fixture, which runs each test on every engine
selected with ``--db`` (``sqlite``, ``postgresql`` or ``both``; default ``sqlite``).
PostgreSQL is the local server (127.0.0.1:5432, trust auth) unless ``SCEAU_TEST_PG_URL`` says
otherwise; a database is created per pytest process.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text

from sceau.bootstrap import Container
from sceau.config import Settings
from sceau.pki.clock import FixedClock, SystemClock
from sceau.storage.database import make_engine, upgrade_database
from sceau.storage.tables import Base

PG_ADMIN_URL = os.environ.get("SCEAU_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASS_PHRASE = "test-passphrase-not-secret"


def pytest_configure(config: pytest.Config) -> None:
    """The suite makes its own data directories and settings: a developer's or a Makefile's
    ``SCEAU_*`` environment (home, public URL, ports…) must not leak into it."""
    for name in list(os.environ):
        if name.startswith("SCEAU_") and not name.startswith(
            ("SCEAU_TEST_", "SCEAU_CRASH_", "SCEAU_SCALE_")
        ):
            del os.environ[name]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("SCEAU_TEST_DB", "sqlite"),
        choices=["sqlite", "postgresql", "both"],
        help="database engine(s) for database-backed tests",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_engine" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        engines = ["sqlite", "postgresql"] if choice == "both" else [choice]
        metafunc.parametrize("db_engine", engines, scope="session")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this pytest process, dropped at the end."""
    name = f"sceau_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def hierarchy_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose TEST hierarchy (RSA-4096 keys) is made once per session."""
    home = tmp_path_factory.mktemp("hierarchy")
    settings = Settings(
        home=home, ca_passphrase=PASS_PHRASE, database_url=f"sqlite:///{home / 'seed.db'}"
    )
    container = Container(settings=settings, clock=SystemClock())
    upgrade_database(settings.resolved_database_url)
    from sceau.registration.use_cases.certificate_authorities import create_hierarchy

    create_hierarchy(container, "test", container.publication("test"))
    container.close()
    return home


def _copy_authorities(seed_url: str, target_url: str) -> None:
    """Copy the CA rows of the seed database into a fresh one (keys stay in the seed home)."""
    from sceau.storage.tables import CertificateAuthority

    seed = make_engine(seed_url)
    target = make_engine(target_url)
    with seed.connect() as source, target.begin() as destination:
        rows = [dict(r._mapping) for r in source.execute(CertificateAuthority.__table__.select())]
        rows.sort(key=lambda r: (r["parent_id"] is not None, r["id"]))
        for row in rows:
            destination.execute(CertificateAuthority.__table__.insert().values(**row))
    seed.dispose()
    target.dispose()


@pytest.fixture(scope="session")
def _schema_ready(db_engine: str, request: pytest.FixtureRequest) -> str:
    """Migrate the session database of ``db_engine`` once; return its URL."""
    if db_engine == "postgresql":
        url = request.getfixturevalue("pg_database")
    else:
        url = "sqlite:///" + str(
            request.getfixturevalue("tmp_path_factory").mktemp("db") / "sceau.db"
        )
    upgrade_database(url)
    return url


def _truncate(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def services(
    _schema_ready: str, hierarchy_home: Path, tmp_path: Path, clock: FixedClock
) -> Iterator[Container]:
    """A container on an empty database (per test) holding the session's TEST hierarchy."""
    url = _schema_ready
    _truncate(url)
    _copy_authorities(f"sqlite:///{hierarchy_home / 'seed.db'}", url)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(hierarchy_home / "keys", home / "keys")
    settings = Settings(home=home, ca_passphrase=PASS_PHRASE, database_url=url)
    container = Container(settings=settings, clock=clock)
    # CA key references point into the session home; that is where the keys are.
    yield container
    container.close()


@pytest.fixture(scope="session")
def leaf_keys() -> list[rsa.RSAPrivateKey]:
    """A pool of RSA-2048 keys, generated once (key generation is the slow part)."""
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(6)]


def make_csr(key: rsa.RSAPrivateKey, common_name: str = "ignored") -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)
