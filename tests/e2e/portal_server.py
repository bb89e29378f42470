"""Start ``sceau serve`` (a real process) on the test's database and keys, and stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from conftest import PASS_PHRASE

REPO = Path(__file__).resolve().parents[2]
# The committed screenshots are refreshed on demand (SCEAU_TEST_SCREENSHOTS=docs); an ordinary
# run (CI) writes them to a temporary folder so that it leaves the work tree clean.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("SCEAU_TEST_SCREENSHOTS") == "docs"
    else Path(tempfile.gettempdir()) / "sceau-screenshots"
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(services, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SCEAU_HOME": str(services.settings.home),
        "SCEAU_DATABASE_URL": services.settings.resolved_database_url,
        "SCEAU_CA_PASSPHRASE": PASS_PHRASE,
        "SCEAU_MAIL_CATCHER_PORT": str(free_port()),
        **extra,
    }
    return env


@contextmanager
def running_sceau(
    services, *args: str, port: int, scheme: str, log: Path, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``sceau serve <args> --port <port>``; waits for /healthz; terminates it at the end."""
    command = [
        sys.executable,
        "-m",
        "sceau.cli.main",
        "serve",
        "--no-demo",
        "--port",
        str(port),
        *args,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=server_env(services, **env), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"sceau serve stopped: {log.read_text()}")
            try:
                if (
                    httpx.get(
                        f"{scheme}://127.0.0.1:{port}/healthz", verify=False, timeout=2
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sceau serve did not answer: {log.read_text()}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def card_files(directory: Path, p12_path: Path, password: bytes) -> tuple[Path, Path]:
    """PEM certificate and key of a demo card's PKCS#12 (what a browser imports)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    key, cert, _ = pkcs12.load_key_and_certificates(p12_path.read_bytes(), password)
    stem = p12_path.stem
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
