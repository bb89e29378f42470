"""Issuance throughput against the raw signing ceiling of the same RSA-4096 CA key.

Prints, in one run: certificates per second in-process (prepare + lint + record + sign,
SQLite, one core), one certificate per call (``issue_certificate``) and in batches
(``issue_certificates``: one record and one mark-issued transaction per batch, as an order's
set is issued), each with pkilint and without it; the signing ceiling of the CA key (pyca
loop over the same TBS, and `openssl speed rsa4096`), and the ratios (target ≥ 60 %).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import fresh_container, machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sceau.pki.profiles import Usage
from sceau.registration.use_cases.issue_certificate import (
    IssueCommand,
    issue_certificate,
    issue_certificates,
)
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure

STRUCTURES = 20
PER_STRUCTURE = 12  # AUTH_CLI / SIGN / CONF cycling, same key per structure (allowed)


def finess(i: int) -> str:
    from sceau.registration.identifiers import luhn_check_digit

    body = f"690{i:05d}"
    return body + str(luhn_check_digit(body))


def csr_for(key: rsa.RSAPrivateKey) -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def issue_run(container, csrs: list[bytes], use_pkilint: bool, batch: int) -> tuple[float, int]:
    """Issue PER_STRUCTURE certificates per structure, ``batch`` per call (1: one by one)."""
    usages = [Usage.AUTH_CLI, Usage.SIGN, Usage.CONF]
    commands = [
        IssueCommand(
            structure=finess(index),
            usage=usages[n % 3],
            service_applicatif=f"DMP {n}",
            csr=csr,
        )
        for index, csr in enumerate(csrs)
        for n in range(PER_STRUCTURE)
    ]
    start = time.perf_counter()
    for first in range(0, len(commands), batch):
        if batch == 1:
            issue_certificate(container, commands[first], use_pkilint=use_pkilint)
        else:
            issue_certificates(container, commands[first : first + batch], use_pkilint=use_pkilint)
    return time.perf_counter() - start, len(commands)


def signing_ceiling(container) -> float:
    with container.unit_of_work() as uow:
        authority = uow.authorities.by_role("test", "organisations")
        tbs = uow.certificates.list(limit=1)[0].tbs_der
        reference = authority.key_reference
    key = container.keyring.load(reference)
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 3.0:
        key.sign(tbs)
        count += 1
    return count / (time.perf_counter() - start)


def openssl_speed() -> float | None:
    result = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "rsa4096"], capture_output=True, text=True
    )
    match = re.search(r"^rsa 4096 bits\s+\S+s\s+\S+s\s+([\d.]+)", result.stdout, re.M)
    return float(match.group(1)) if match else None


def main() -> None:
    print(f"machine: {machine()}")
    container = fresh_container()
    keys = [
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(STRUCTURES)
    ]
    csrs = [csr_for(k) for k in keys]
    for i in range(STRUCTURES):
        add_structure(
            container,
            AddStructureCommand(
                finess=finess(i), raison_sociale=f"PHARMACIE BENCH {i}", department="69"
            ),
        )
    # Warm-up: load the CA key, build pkilint's validator.
    issue_run(container, csrs[:1], use_pkilint=True, batch=1)

    rates: dict[tuple[int, bool], float] = {}
    for batch in (1, 12, 60):
        for use_pkilint in (True, False):
            elapsed, count = issue_run(container, csrs, use_pkilint, batch)
            rates[batch, use_pkilint] = count / elapsed
    ceiling = signing_ceiling(container)
    speed = openssl_speed()
    count = STRUCTURES * PER_STRUCTURE
    print(f"{count} certificates per mode, RSA-4096 CA key, RSA-2048 leaves, SQLite, 1 core")
    print(
        f"signing ceiling, same CA key (pyca loop over a recorded TBS): {ceiling:7.1f} signatures/s"
    )
    if speed:
        print(
            f"signing ceiling, `openssl speed rsa4096` (system OpenSSL):  {speed:7.1f} signatures/s"
        )
    print()
    print(
        "mode                                   certificates/s   / pyca ceiling   / openssl speed"
    )
    for batch in (1, 12, 60):
        for use_pkilint in (True, False):
            rate = rates[batch, use_pkilint]
            label = f"{'one per call' if batch == 1 else f'batches of {batch}'}, " + (
                "pkilint + SEGUR lints" if use_pkilint else "SEGUR lints only"
            )
            versus = f"{rate / speed:14.1%}" if speed else ""
            print(f"{label:40s} {rate:12.1f} {rate / ceiling:14.1%}   {versus}")
    print("target: >= 60 % of the ceiling")


if __name__ == "__main__":
    main()
