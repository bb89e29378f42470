"""First run: ``sceau serve --tls`` on an empty home prints the URL and the demo cards (paths
and passwords); one of them logs in at once."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from portal_server import card_files, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_first_run_prints_url_and_demo_cards_then_a_card_logs_in(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "SCEAU_HOME": str(home), "SCEAU_MAIL_CATCHER_PORT": str(free_port())}
    for name in ("SCEAU_DATABASE_URL", "SCEAU_CA_PASSPHRASE", "SCEAU_TRUSTED_PROXIES"):
        env.pop(name, None)
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "sceau.cli.main", "serve", "--tls", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while "sceau écoute sur" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        while True:
            try:
                httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        printed = log.read_text()
        assert f"sceau écoute sur https://sceau.localhost:{port}/" in printed
        cards = re.findall(r"carte (CPA|CPS) \S+ de \S+: (\S+\.p12) — mot de passe: (\S+)", printed)
        assert {kind for kind, _, _ in cards} == {"CPA", "CPS"}
        _, path, password = next(c for c in cards if c[0] == "CPA")
        assert path.startswith(str(home / "demo-cards"))
        pkcs12.load_key_and_certificates(Path(path).read_bytes(), password.encode())
        cert, key = card_files(tmp_path, Path(path), password.encode())

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(str(cert), str(key))
        base = f"https://127.0.0.1:{port}"
        with httpx.Client(verify=context) as client:
            page = client.get(f"{base}/connexion").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            response = client.post(f"{base}/connexion/carte", data={"csrf_token": token})
            assert response.status_code == 303
            assert "Alice MARTIN" in client.get(f"{base}/").text
    finally:
        process.terminate()
        process.wait(timeout=20)
