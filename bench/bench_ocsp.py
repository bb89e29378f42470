"""OCSP responses per second over loopback, served from pre-signed responses.

Starts `sceau serve` on a fresh data directory with 300 issued certificates (some revoked),
then drives POST /ocsp with wrk (Debian package `wrk`, installed on demand) cycling over
real requests for those serials. Target: >= 2,500 responses/s on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import PASSPHRASE, fresh_container, machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp

from sceau.pki.profiles import Usage
from sceau.registration.use_cases.issue_certificate import IssueCommand, issue_certificate
from sceau.registration.use_cases.revocation_status import publish_revocation_status
from sceau.registration.use_cases.revoke_certificate import RevokeCommand, revoke_certificate
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure

CERTIFICATES = 300
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def main() -> None:
    print(f"machine: {machine()}")
    wrk = ensure_wrk()
    container = fresh_container()
    from bench_issuance import csr_for, finess

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    add_structure(
        container,
        AddStructureCommand(finess=finess(1), raison_sociale="PHARMACIE OCSP", department="69"),
    )
    csr = csr_for(key)
    issued = [
        issue_certificate(
            container,
            IssueCommand(
                structure=finess(1), usage=Usage.AUTH_CLI, service_applicatif=f"DMP {i}", csr=csr
            ),
            use_pkilint=False,
        )
        for i in range(CERTIFICATES)
    ]
    for item in issued[::10]:
        revoke_certificate(container, RevokeCommand(item.serial, x509.ReasonFlags.superseded))
    publish_revocation_status(container, force=True)
    issuer = issued[0].chain[0]
    bodies = [
        ocsp.OCSPRequestBuilder()
        .add_certificate(i.certificate, issuer, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
        for i in issued
    ]
    work = Path(tempfile.mkdtemp(prefix="sceau-ocsp-bench-"))
    lua_bodies = ",\n".join('"' + "".join(f"\\{b}" for b in body) + '"' for body in bodies)
    (work / "ocsp.lua").write_text(
        "local bodies = {\n" + lua_bodies + "\n}\nlocal i = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/ocsp-request"\n'
        "request = function()\n  i = i % #bodies + 1\n"
        '  return wrk.format("POST", "/ocsp", nil, bodies[i])\nend\n'
    )
    port = free_port()
    env = {
        **os.environ,
        "SCEAU_HOME": str(container.settings.home),
        "SCEAU_CA_PASSPHRASE": PASSPHRASE,
        "SCEAU_IN_PROCESS_WORKER": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "sceau.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        check = httpx.post(
            url + "/ocsp", content=bodies[0], headers={"Content-Type": "application/ocsp-request"}
        )
        parsed = ocsp.load_der_ocsp_response(check.content)
        assert parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED, parsed.certificate_status
        subprocess.run(
            [wrk, "-t1", "-c16", "-d2s", "-s", str(work / "ocsp.lua"), url], capture_output=True
        )  # warm-up
        result = subprocess.run(
            [wrk, "-t1", "-c32", f"-d{DURATION}s", "--latency", "-s", str(work / "ocsp.lua"), url],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    p99 = re.search(r"99%\s+(\S+)", result.stdout)
    print(
        f"OCSP over loopback (POST, {CERTIFICATES} serials, 32 connections, wrk on the same 2 cores):"
    )
    print(
        f"  {rate:8.0f} responses/s  (target >= 2,500)   p99 latency {p99.group(1) if p99 else '?'}"
        f"   non-2xx: {errors.group(1) if errors else 0}"
    )


if __name__ == "__main__":
    main()
