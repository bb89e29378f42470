"""Expiry scan over 1,000,000 certificates, on SQLite and on PostgreSQL.

Set-up (bulk, no signing): 10,000 structures, 100 vendor administrators of 100 structures
each, 1,000,000 issued certificates expiring uniformly over [-30 days, +3 years], and the
notices a daily scan would already have recorded (steady state). Measured:

- ``idle``: the scan when nothing new is due (what most runs are);
- ``next day``: the scan one day later — every certificate that crossed an offset
  (≈ 3,500) gets its notice and goes into its administrator's digest.

Usage: ``python bench/bench_expiry_scan.py [--count N] [--engine sqlite|postgresql|both]``
(PostgreSQL: ``SCEAU_BENCH_PG_URL``, default the local server with trust auth).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from common import machine
from sqlalchemy import insert, text

from sceau.notifications.expiry import ExpiryPolicy, scan_expiring
from sceau.notifications.renderer import Renderer
from sceau.storage.database import make_engine, session_factory, upgrade_database
from sceau.storage.tables import (
    CertificateAuthority,
    ExpiryNotice,
    Habilitation,
    Person,
    Structure,
)
from sceau.storage.unit_of_work import SqlUnitOfWork

PG_ADMIN = os.environ.get("SCEAU_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DAY = dt.timedelta(days=1)
OFFSETS = (60, 30, 7, 0)
STRUCTURES = 10_000
PER_ADMIN = 100
NOW = dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)


def reference_rows(connection) -> None:  # type: ignore[no-untyped-def]
    connection.execute(
        insert(CertificateAuthority),
        [
            {
                "id": 1,
                "slug": "bench-org",
                "environment": "test",
                "role": "organisations",
                "subject": "CN=bench",
                "certificate_der": b"\x30\x00",
                "key_reference": "none",
                "file_stem": "BENCH",
                "next_crl_number": 1,
                "created_at": NOW,
            }
        ],
    )
    connection.execute(
        insert(Structure),
        [
            {
                "id": n + 1,
                "idnst": f"1{750000000 + n:09d}",
                "finess_et": f"{750000000 + n:09d}",
                "raison_sociale": f"PHARMACIE {n}",
                "department_code": "75",
                "is_open": True,
                "mssante_operator": False,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for n in range(STRUCTURES)
        ],
    )
    admins = STRUCTURES // PER_ADMIN
    connection.execute(
        insert(Person),
        [
            {
                "id": a + 1,
                "idnat": f"8{a:010d}",
                "family_name": f"ADMIN{a}",
                "given_name": "Claire",
                "email": f"admin{a}@editeur.test",
                "created_at": NOW,
                "updated_at": NOW,
            }
            for a in range(admins)
        ],
    )
    connection.execute(
        insert(Habilitation),
        [
            {
                "structure_id": s + 1,
                "person_id": s // PER_ADMIN + 1,
                "administrator_status": "editeur",
                "email": f"admin{s // PER_ADMIN}@editeur.test",
                "granted_at": NOW,
                "granted_by": "bench",
            }
            for s in range(STRUCTURES)
        ],
    )


def certificate_values(count: int) -> tuple[list[tuple], list[tuple]]:  # type: ignore[type-arg]
    """(certificate tuples, steady-state notice tuples) for ``count`` certificates."""
    rng = random.Random(5)
    span = (3 * 365 + 30) * 86400
    certificates = []
    notices = []
    for n in range(count):
        not_after = NOW - 30 * DAY + dt.timedelta(seconds=rng.randrange(span))
        serial = f"{n:032x}"
        certificates.append((n + 1, serial, n % STRUCTURES + 1, not_after))
        left = not_after - NOW
        reached = [o for o in OFFSETS if left <= o * DAY]
        if reached and left > -7 * DAY:
            notices.append((n + 1, min(reached)))  # the tightest reached offset, like a scan
    return certificates, notices


COLUMNS = (
    "id, serial, authority_id, structure_id, usage, insi, status, subject, common_name, "
    "key_fingerprint, tbs_der, not_before, not_after, prepared_at, issued_at"
)


def _sqlite_time(value: dt.datetime) -> str:
    """The text form SQLAlchemy stores in SQLite (UTC, no offset, microseconds)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(engine, certificates, notices) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        reference_rows(connection)
        raw = connection.connection.driver_connection
        rows = (
            (
                i,
                s,
                1,
                st,
                "SSL_SERV",
                0,
                "issued",
                f"CN=srv{i}",
                f"srv{i}.test",
                s,
                b"\x30\x00",
                _sqlite_time(na - 1095 * DAY),
                _sqlite_time(na),
                _sqlite_time(NOW),
                _sqlite_time(NOW),
            )
            for i, s, st, na in certificates
        )
        raw.executemany(
            f"INSERT INTO certificates ({COLUMNS}) VALUES ({', '.join('?' * 15)})", rows
        )
        connection.execute(
            insert(ExpiryNotice),
            [
                {"certificate_id": c, "offset_days": o, "noticed_at": NOW, "outcome": "digested"}
                for c, o in notices
            ],
        )


def load_postgresql(engine, certificates, notices) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        reference_rows(connection)
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY certificates ({COLUMNS}) FROM STDIN") as copy:
                for i, s, st, na in certificates:
                    copy.write_row(
                        (
                            i, s, 1, st, "SSL_SERV", False, "issued", f"CN=srv{i}",
                            f"srv{i}.test", s, b"\x30\x00", na - 1095 * DAY, na, NOW, NOW,
                        )
                    )  # fmt: skip
            with cursor.copy(
                "COPY expiry_notices (certificate_id, offset_days, noticed_at, outcome) FROM STDIN"
            ) as copy:
                for c, o in notices:
                    copy.write_row((c, o, NOW, "digested"))
        connection.execute(text("ANALYZE"))


def run(engine_name: str, count: int) -> None:
    if engine_name == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='sceau-bench-')) / 'bench.db'}"
        admin = None
        name = ""
    else:
        name = f"sceau_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade_database(url)
        engine = make_engine(url)
        certificates, notices = certificate_values(count)
        started = time.perf_counter()
        (load_sqlite if engine_name == "sqlite" else load_postgresql)(engine, certificates, notices)
        load = time.perf_counter() - started
        if engine_name == "sqlite":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        sessions = session_factory(engine)
        renderer = Renderer("https://portail.example")
        policy = ExpiryPolicy()

        def scan(at: dt.datetime) -> tuple[float, int, int]:
            begin = time.perf_counter()
            with SqlUnitOfWork(sessions) as uow:
                report = scan_expiring(uow, renderer, sender="s@x.test", now=at, policy=policy)
                uow.commit()
            return time.perf_counter() - begin, report.due, report.digests_opened

        idle = [scan(NOW) for _ in range(3)]
        next_day = scan(NOW + DAY)
        idle_after = scan(NOW + DAY)
        print(
            f"{engine_name:<10} {count:>9,} certificates (load {load:5.1f} s, "
            f"{len(notices):,} prior notices): idle scan "
            f"{min(t for t, _, _ in idle) * 1000:6.1f} ms (due {idle[0][1]}); next day "
            f"{next_day[0] * 1000:6.1f} ms ({next_day[1]:,} due, {next_day[2]} digests); "
            f"idle again {idle_after[0] * 1000:6.1f} ms"
        )
        engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(f"expiry scan bench — {machine()}")
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    for name in engines:
        run(name, args.count)


if __name__ == "__main__":
    main()
