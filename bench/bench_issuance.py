"""Issuance throughput against the raw signing ceiling of the same RSA-4096 CA key.

Prints, in one run: certificates per second in-process (prepare + lint + record + sign,
SQLite), the same without pkilint, the signing ceiling of the CA key (pyca loop over the
same TBS, and `openssl speed rsa4096`), and the ratio (target ≥ 60 %).
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
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
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


def issue_run(container, csrs: list[bytes], use_pkilint: bool) -> tuple[float, int]:
    usages = [Usage.AUTH_CLI, Usage.SIGN, Usage.CONF]
    count = 0
    start = time.perf_counter()
    for index, csr in enumerate(csrs):
        for n in range(PER_STRUCTURE):
            issue_certificate(
                container,
                IssueCommand(
                    structure=finess(index),
                    usage=usages[n % 3],
                    service_applicatif=f"DMP {n}",
                    csr=csr,
                ),
                use_pkilint=use_pkilint,
            )
            count += 1
    return time.perf_counter() - start, count


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
    issue_run(container, csrs[:1], use_pkilint=True)

    elapsed, count = issue_run(container, csrs, use_pkilint=True)
    with_lint = count / elapsed
    elapsed, count = issue_run(container, csrs, use_pkilint=False)
    without_lint = count / elapsed
    ceiling = signing_ceiling(container)
    speed = openssl_speed()
    print(
        f"issuance (prepare + pkilint + SEGUR lints + record + sign), SQLite: {with_lint:8.1f} certificates/s"
    )
    print(
        f"issuance without pkilint (SEGUR lints only), for reference:   {without_lint:8.1f} certificates/s"
    )
    print(
        f"signing ceiling, same RSA-4096 CA key (pyca loop, 1 core):      {ceiling:8.1f} signatures/s"
    )
    if speed:
        print(
            f"signing ceiling, `openssl speed rsa4096` (1 core):              {speed:8.1f} signatures/s"
        )
    print(f"ratio with pkilint:    {with_lint / ceiling:6.1%} of the ceiling (target >= 60 %)")
    print(f"ratio without pkilint: {without_lint / ceiling:6.1%} of the ceiling")


if __name__ == "__main__":
    main()
