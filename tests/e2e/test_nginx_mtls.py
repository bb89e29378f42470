"""nginx as a relying party: mutual TLS with our certificates and our CRLs.

nginx (run by the test, unprivileged-friendly: every path in the test folder) requires a
client certificate issued by our organisations CA and checks it against the root's and the
CA's CRLs. A revoked certificate is refused once the CRL is refreshed and nginx reloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from pki_e2e import ORG, ROOT, add_pharmacy, crl_pem, free_port, issue, run, write_key, write_pem

from sceau.pki.profiles import Usage
from sceau.registration.use_cases.revocation_status import publish_revocation_status
from sceau.registration.use_cases.revoke_certificate import RevokeCommand, revoke_certificate

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
CURL = shutil.which("curl")
HOST = "mtls.sceau.test"  # a FQDN, as SERV SSL names must be; curl resolves it to 127.0.0.1
WAIT_SECONDS = 30

CONFIG = """\
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log info;
events {{ worker_connections 32; }}
http {{
    access_log off;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {host};
        ssl_certificate {work}/server-chain.pem;
        ssl_certificate_key {work}/server.key;
        ssl_verify_client on;
        ssl_client_certificate {work}/chain.pem;
        ssl_crl {work}/combined.crl;
        ssl_verify_depth 2;
        location / {{
            default_type text/plain;
            return 200 "bonjour $ssl_client_s_dn\\n";
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, work: Path, port: int):
        self.work = work
        self.port = port
        self.config = work / "nginx.conf"
        self.config.write_text(CONFIG.format(work=work, port=port, host=HOST))
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *extra: str) -> list[str]:
        assert NGINX is not None
        return [
            NGINX,
            "-p",
            str(self.work),
            "-e",
            str(self.work / "error.log"),
            "-c",
            str(self.config),
            *extra,
        ]

    def start(self) -> None:
        checked = run(*self.command("-t"))
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def reload(self) -> None:
        reloaded = run(*self.command("-s", "reload"))
        assert reloaded.returncode == 0, reloaded.stderr

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.work / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def curl(work: Path, port: int, *, client: bool = True) -> tuple[int, str]:
    """(HTTP status, body) of a GET over mutual TLS; status 0 when no HTTP answer came."""
    assert CURL is not None
    args = [CURL, "-sS", "--max-time", "10", "--resolve", f"{HOST}:{port}:127.0.0.1",
            "--cacert", str(work / "chain.pem"), "-o", "-", "-w", "\n%{http_code}"]  # fmt: skip
    if client:
        args += ["--cert", str(work / "leaf.pem"), "--key", str(work / "key.pem")]
    done = run(*args, f"https://{HOST}:{port}/")
    body, _, status = done.stdout.rpartition("\n")
    return int(status or 0), body + done.stderr


def wait_for(work: Path, port: int, nginx: Nginx, expected: int) -> tuple[int, str]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        status, body = curl(work, port)
        if status == expected:
            return status, body
        assert nginx.process is None or nginx.process.poll() is None, nginx.log()
        assert time.monotonic() < deadline, f"still {status} {body!r}; nginx log:\n{nginx.log()}"
        time.sleep(0.2)


def write_combined_crl(services, work: Path) -> None:
    """nginx checks CRLs at every depth: the root's (for the CA) and the CA's (for leaves)."""
    path = work / "combined.crl"
    tmp = work / "combined.crl.tmp"
    tmp.write_bytes(crl_pem(services, ROOT) + crl_pem(services, ORG))
    os.replace(tmp, path)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian package nginx)")
@pytest.mark.skipif(CURL is None, reason="curl is not installed (Debian package curl)")
def test_nginx_accepts_our_client_certificate_then_refuses_it_once_revoked(
    services, leaf_keys, tmp_path
):
    add_pharmacy(services)
    client = issue(services, leaf_keys[0])
    server = issue(services, leaf_keys[1], Usage.SERV_SSL, HOST, (HOST,))
    org, root = client.chain
    write_pem(tmp_path / "leaf.pem", client.certificate)
    write_key(tmp_path / "key.pem", leaf_keys[0])
    write_pem(tmp_path / "server-chain.pem", server.certificate, org)
    write_key(tmp_path / "server.key", leaf_keys[1])
    write_pem(tmp_path / "chain.pem", org, root)
    publish_revocation_status(services)
    write_combined_crl(services, tmp_path)

    port = free_port()
    nginx = Nginx(tmp_path, port)
    nginx.start()
    try:
        _, body = wait_for(tmp_path, port, nginx, 200)
        assert "CN=LGO-E2E" in body and "OU=1690000880" in body
        anonymous, text = curl(tmp_path, port, client=False)
        assert anonymous == 400 and "No required SSL certificate was sent" in text

        revoke_certificate(
            services,
            RevokeCommand(serial=client.serial, reason=x509.ReasonFlags.key_compromise),
        )
        publish_revocation_status(services)
        write_combined_crl(services, tmp_path)
        nginx.reload()
        _, body = wait_for(tmp_path, port, nginx, 400)
        assert "The SSL certificate error" in body
        assert "certificate revoked" in nginx.log()
    finally:
        nginx.stop()
