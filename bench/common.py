"""Shared set-up for the benchmarks: a fresh data directory with a TEST hierarchy."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from sceau.bootstrap import Container, prepare_database
from sceau.config import Settings
from sceau.registration.use_cases.certificate_authorities import create_hierarchy

PASSPHRASE = "bench-passphrase"


def fresh_container(database_url: str | None = None) -> Container:
    home = Path(tempfile.mkdtemp(prefix="sceau-bench-"))
    settings = Settings(home=home, ca_passphrase=PASSPHRASE, database_url=database_url)
    prepare_database(settings)
    container = Container(settings=settings)
    create_hierarchy(container, "test", container.publication("test"))
    return container


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores, {cpu}; {openssl}"
