"""Card login behind nginx (``ssl_verify_client on``, certificate forwarded in a header):
it works through nginx, and the same header sent straight to sceau is ignored."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import time
from urllib.parse import quote

import httpx
import pytest
from portal_server import card_files, free_port, running_sceau

from sceau.demo import VENDOR_ADMIN, load_demo_data
from sceau.web.tls import ensure_server_certificate

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx not installed"),
]
PROXY_ADDRESS = "127.0.0.2"  # nginx connects to sceau from here; tests connect from 127.0.0.1
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

CONFIG = """
daemon off;
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {tmp}/access.log;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {tls}/server.pem;
    ssl_certificate_key {tls}/server.key;
    ssl_client_certificate {tls}/client-ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_bind {proxy_address};
      proxy_set_header Host $host;
      proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
    }}
  }}
}}
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], log) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx stopped: {log.read_text()}")
        try:
            httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("nginx did not start")


def _login(client: httpx.Client, base: str) -> httpx.Response:
    token = CSRF.search(client.get(f"{base}/connexion").text).group(1)
    return client.post(f"{base}/connexion/carte", data={"csrf_token": token, "suite": "/"})


def test_card_login_through_nginx_and_forged_header_ignored(services, tmp_path):
    load_demo_data(services, structures=12)
    folder = services.settings.home / "demo-cards"
    alice_p12 = folder / f"{VENDOR_ADMIN.replace('/', '-')}.p12"
    password = alice_p12.with_suffix(".password").read_bytes().strip()
    alice = card_files(tmp_path, alice_p12, password)
    files = ensure_server_certificate(services, "sceau.localhost")
    with services.unit_of_work() as uow:
        person = uow.persons.by_idnat(VENDOR_ADMIN)
        idnsts = {
            uow.structures.by_id(i).idnst for i in uow.habilitations.active_structure_ids(person.id)
        }

    upstream, port = free_port(), free_port()
    nginx_tmp = tmp_path / "nginx"
    nginx_tmp.mkdir()
    config = nginx_tmp / "nginx.conf"
    config.write_text(
        CONFIG.format(tmp=nginx_tmp, port=port, tls=files.certificate.parent, upstream=upstream,
                      proxy_address=PROXY_ADDRESS)
    )  # fmt: skip
    with running_sceau(
        services, "--host", "127.0.0.1", port=upstream, scheme="http", log=tmp_path / "serve.log",
        SCEAU_TRUSTED_PROXIES=PROXY_ADDRESS,
    ):  # fmt: skip
        nginx_log = nginx_tmp / "stdout.log"
        with nginx_log.open("wb") as output:
            command = [NGINX, "-c", str(config), "-p", str(nginx_tmp)]
            nginx = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_for(port, nginx, nginx_log)
            base = f"https://127.0.0.1:{port}"
            # Through nginx with the card: logged in, Secure cookie, own structures only.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # our TEST root is not in the system store
            context.load_cert_chain(str(alice[0]), str(alice[1]))
            with httpx.Client(verify=context) as client:
                response = _login(client, base)
                assert response.status_code == 303, response.text
                cookie = response.headers["set-cookie"].lower()
                assert "secure" in cookie and "httponly" in cookie
                home = client.get(f"{base}/").text
                assert "Page d'accueil de la gestion des produits" in home.replace("&#39;", "'")
                assert all(idnst in home for idnst in idnsts)
            # Through nginx without a card: nginx refuses the request itself.
            with httpx.Client(verify=False) as client:
                refused = client.get(f"{base}/connexion")
                assert refused.status_code == 400
                assert "No required SSL certificate was sent" in refused.text
            # Straight to sceau with the certificate in the header: ignored (peer untrusted).
            direct = f"http://127.0.0.1:{upstream}"
            pem = alice[0].read_text()
            forged = {  # even claiming to come through the proxy
                "X-SSL-Client-Cert": quote(pem, safe=""),
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": PROXY_ADDRESS,
                "X-Real-IP": PROXY_ADDRESS,
            }
            with httpx.Client(headers=forged) as client:
                response = _login(client, direct)
                assert response.status_code == 401, response.text[-1500:]
                assert "aucune carte présentée" in response.text
                assert "secure" not in response.headers.get("set-cookie", "").lower()
                assert client.get(f"{direct}/").status_code == 303  # still anonymous
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
    with services.unit_of_work() as uow:  # both attempts are in the audit trail
        events = [e for e in uow.audit.list(limit=500) if e.action == "auth.card"]
        assert any(e.outcome == "success" and e.source == "127.0.0.1" for e in events)
