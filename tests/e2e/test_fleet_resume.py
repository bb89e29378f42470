"""A fleet order of 200 pharmacies × (DMP + INSI-AUTO) interrupted midway — SIGINT, then
SIGKILL before it could finish cleanly — and resumed: exactly 600 certificates, none
ordered twice, every structure complete in the report."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_server import environment, free_port, running_server, sceau, seed

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]
PHARMACIES = 200


def _done(state: Path) -> int:
    if not state.exists():
        return 0
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM items WHERE state = 'done'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_interrupted_fleet_resumes_without_ordering_twice(tmp_path: Path) -> None:
    home, port = tmp_path / "server", free_port()
    server_env = environment(home, port)
    sceau(server_env, "init")
    world = seed(home, PHARMACIES + 2)  # the last two belong to another vendor
    pharmacies = world.structures[:PHARMACIES]
    table = tmp_path / "pharmacies.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["finess", "raison_sociale"])
        writer.writerows([number, f"PHARMACIE {number}"] for number in pharmacies)
    target, state = tmp_path / "fleet", tmp_path / "fleet" / "fleet-state.sqlite"
    with running_server(server_env, port, tmp_path / "serve.log") as url:
        env = {
            **environment(tmp_path / "client", port),
            "SCEAU_SERVER": url,
            "SCEAU_TOKEN": world.tokens["admin_a"],
            "SCEAU_EMAIL": "flotte@logiciel.example",
        }
        command = [
            sys.executable,
            "-m",
            "sceau.cli.main",
            "client",
            "fleet",
            "order",
            "--csv",
            str(table),
            "--bundle",
            "dmp,insi-auto",
            "--target",
            str(target),
        ]
        log = open(tmp_path / "first-run.log", "wb")  # noqa: SIM115 - closed below
        # Its own session, like a terminal: Ctrl-C goes to the whole process group.
        first = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 300
        while _done(state) < 60:  # 60 of 400 orders done: well before the middle
            assert first.poll() is None, (tmp_path / "first-run.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGINT)
        time.sleep(0.5)
        first.kill()  # SIGKILL: no clean shutdown, no report
        first.wait(timeout=30)
        log.close()
        interrupted_at = _done(state)
        assert 60 <= interrupted_at < 2 * PHARMACIES

        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert _done(state) == 2 * PHARMACIES

        operator = httpx.Client(
            base_url=f"{url}/api/v1",
            headers={"Authorization": f"Bearer {world.tokens['operator']}"},
        )
        counts = operator.get("/dashboard").json()
        assert counts["total"] == 3 * PHARMACIES  # exactly 600 certificates, none twice
        assert counts["by_state"].get("retrieved") == 3 * PHARMACIES
        serials, before = [], None
        while True:
            params = {"limit": 200} if before is None else {"limit": 200, "before_id": before}
            page = operator.get("/orders", params=params).json()
            serials += [p["serial"] for p in page["items"]]
            before = page["next_before_id"]
            if before is None:
                break
        operator.close()
        assert len(serials) == len(set(serials)) == 3 * PHARMACIES

    report = json.loads((target / "fleet-report.json").read_text())
    assert len(report) == PHARMACIES
    assert all(entry["status"] == "complete" for entry in report)
    assert all(len(o["certificates"]) in (1, 2) for e in report for o in e["orders"])
    with open(target / "fleet-report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * PHARMACIES and {r["serial"] for r in rows} == set(serials)
    for number in pharmacies[:5]:
        assert sorted(
            p.name for p in (target / number).iterdir() if not p.name.startswith(".")
        ) == ["dmp-auth_cli", "dmp-sign", "insi-auto"]
