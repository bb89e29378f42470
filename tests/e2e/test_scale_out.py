"""Scale-out on PostgreSQL: 4 ``sceau serve`` processes and 2 ``sceau worker`` processes
under a bounded load of concurrent clients placing orders and revocations.

Each order is sent twice at once, with the same Idempotency-Key, to two different serve
processes; then a part of the certificates is revoked through random serve processes while
the workers publish CRLs and anchor the audit chain. Proven afterwards: no duplicate serial,
one order per key (none lost, none doubled), CRL numbers unique and strictly increasing per CA
(and the last CRL lists every revocation), the cluster jobs never ran twice over the same
work (one audit anchor per chain end), each mail delivered exactly once.

``SCEAU_SCALE_ORDERS`` sets the number of orders (default 400).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cluster
import httpx
import pytest
from api_server import environment, free_port, sceau, seed
from cluster import Process, wait_healthy
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text

from conftest import make_csr
from sceau.notifications.mail_catcher import MailCatcher
from sceau.storage.database import make_engine

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.postgres]

ORDERS = int(os.environ.get("SCEAU_SCALE_ORDERS", "400"))
SERVERS, WORKERS, STRUCTURES, CLIENTS = 4, 2, 16, 8

fresh_pg = cluster.fresh_pg  # the fixture


def call(method: str, url: str, token: str, key: str | None = None, **kwargs: object) -> dict:  # type: ignore[type-arg]
    """One API call, retried while the same key is in progress elsewhere (409) or on 5xx."""
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, f"{method} {url} never answered"
        answer = httpx.request(method, url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]
        if answer.status_code < 300:
            return answer.json()  # type: ignore[no-any-return]
        if answer.status_code >= 500 or answer.json().get("code") == "idempotency_in_progress":
            time.sleep(0.2)
            continue
        raise AssertionError(f"{method} {url}: {answer.status_code} {answer.text}")


@pytest.mark.timeout(900)
def test_four_servers_two_workers(tmp_path: Path, fresh_pg: str) -> None:
    started = time.monotonic()
    home, smtp_port = tmp_path / "home", free_port()
    ports = [free_port() for _ in range(SERVERS)]
    env = environment(
        home,
        ports[0],
        SCEAU_DATABASE_URL=fresh_pg,
        SCEAU_IN_PROCESS_WORKER="false",
        SCEAU_SMTP_HOST="127.0.0.1",
        SCEAU_SMTP_PORT=str(smtp_port),
        SCEAU_WORKER_INTERVAL_SECONDS="1",
        SCEAU_REVOCATION_INTERVAL_SECONDS="2",
        SCEAU_AUDIT_ANCHOR_INTERVAL_SECONDS="2",
    )
    sceau(env, "init")
    saved = os.environ.get("SCEAU_DATABASE_URL")
    os.environ["SCEAU_DATABASE_URL"] = fresh_pg  # seed() writes through Settings()
    try:
        world = seed(home, STRUCTURES + 2)
    finally:
        if saved is None:
            os.environ.pop("SCEAU_DATABASE_URL")
        else:
            os.environ["SCEAU_DATABASE_URL"] = saved
    structures = world.structures[:STRUCTURES]
    csrs = [
        make_csr(rsa.generate_private_key(public_exponent=65537, key_size=2048)).decode()
        for _ in structures
    ]
    token = world.tokens["admin_a"]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    servers = [
        Process(["serve", "--port", str(port), "--no-demo"], env, tmp_path / f"serve{port}.log")
        for port in ports
    ]
    workers = [Process(["worker"], env, tmp_path / f"worker{n}.log") for n in range(WORKERS)]
    rng = random.Random(4)
    lock = threading.Lock()
    answers: dict[str, list[int]] = defaultdict(list)
    serials: list[str] = []

    def order(n: int) -> None:
        first, second = rng.sample(urls, 2)
        body = {
            "structure": structures[n % STRUCTURES],
            "service_applicatif": f"LOGICIEL{n}",
            "actor_email": f"admin{n % 5}@editeur.test",
            "usage": "AUTH_CLI",
            "csrs": [csrs[n % STRUCTURES]],
        }
        key = f"scale-{n}"
        with ThreadPoolExecutor(2) as both:  # the same order at once on two processes
            results = list(
                both.map(
                    lambda url: call("POST", f"{url}/api/v1/orders", token, key, json=body),
                    (first, second),
                )
            )
        with lock:
            for result in results:
                answers[key].append(result["id"])
            serials.append(results[0]["products"][0]["serial"])

    with MailCatcher("127.0.0.1", smtp_port) as catcher:
        try:
            for process in [*servers, *workers]:
                process.start()
            for url, server in zip(urls, servers, strict=True):
                wait_healthy(url, server)
            with ThreadPoolExecutor(CLIENTS // 2) as pool:
                list(pool.map(order, range(ORDERS)))
            revoked = serials[:: max(1, len(serials) // 60)]
            with ThreadPoolExecutor(CLIENTS) as pool:
                list(
                    pool.map(
                        lambda serial: call(
                            "POST",
                            f"{rng.choice(urls)}/api/v1/certificates/{serial}/revoke",
                            token,
                            json={"reason": "cessationOfOperation"},
                        ),
                        revoked,
                    )
                )
            time.sleep(6)  # the workers publish the CRLs and anchor the chain
        finally:
            for process in [*servers, *workers]:
                process.terminate()
        sceau(env, "worker", "--until-idle", timeout=300)
        mails = catcher.mails()
    load_seconds = time.monotonic() - started

    engine = make_engine(fresh_pg)
    try:
        with engine.connect() as db:

            def rows(sql: str) -> list:  # type: ignore[type-arg]
                return list(db.execute(text(sql)))

            certificates = rows(
                "SELECT serial, status, certificate_der FROM certificates"
                " WHERE structure_id IS NOT NULL"
            )
            orders = db.execute(text("SELECT count(*) FROM certificate_orders")).scalar_one()
            crls = rows("SELECT authority_id, number, id, der FROM revocation_lists ORDER BY id")
            anchors = rows("SELECT last_event_id FROM audit_anchors")
            outbox = rows("SELECT status, message_id FROM outbox_messages")
            leases = rows("SELECT name, runs, failures FROM job_leases")
    finally:
        engine.dispose()

    # Orders: one per key, both answers the same order; no serial twice.
    assert len(answers) == ORDERS and all(len(set(ids)) == 1 for ids in answers.values())
    assert orders == ORDERS
    inner = Counter(
        x509.load_der_x509_certificate(bytes(row.certificate_der)).serial_number
        for row in certificates
        if row.certificate_der
    )
    assert len(certificates) == ORDERS and max(inner.values()) == 1
    assert len(set(serials)) == ORDERS
    # CRLs: numbers unique and strictly increasing (in creation order) per CA.
    by_ca: dict[int, list[int]] = defaultdict(list)
    for crl in crls:
        if crl.number is not None:
            by_ca[crl.authority_id].append(crl.number)
    for numbers in by_ca.values():
        assert numbers == sorted(set(numbers)), numbers
    latest = {crl.authority_id: crl for crl in crls}
    listed = set()
    for crl in latest.values():
        parsed = x509.load_der_x509_crl(bytes(crl.der))
        listed |= {format(entry.serial_number, "032x") for entry in parsed}
    assert set(revoked) <= listed, len(set(revoked) - listed)
    # Cluster jobs: never twice over the same work; each mail exactly once.
    assert len(anchors) == len({a.last_event_id for a in anchors})
    assert not [lease for lease in leases if lease.failures], leases
    assert Counter(row.status for row in outbox) == {"sent": len(outbox)}
    caught = Counter(mail.message_id for mail in mails)
    assert set(caught.values()) == {1} and set(caught) == {row.message_id for row in outbox}
    print(
        f"\nscale-out: {ORDERS} orders ×2 submissions on {SERVERS} servers, {len(revoked)} "
        f"revocations, {WORKERS} workers; CRLs {dict(Counter(c.authority_id for c in crls))}, "
        f"anchors {len(anchors)}, mails {len(mails)}, {load_seconds:.0f} s; "
        f"job runs {[(lease.name, lease.runs) for lease in leases]}"
    )
