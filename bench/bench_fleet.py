"""Fleet order end to end: N pharmacies × (DMP AUTH_CLI + SIGN, INSI-AUTO) against a local
``sceau serve``, through the real ``sceau client fleet order`` command (keys generated on
every core, orders, RETIRER, PKCS#12 installation, state file and reports).

Printed: certificates per second, and the floor set by RSA-2048 key generation on all cores,
measured in the same run (a sample of keys made the way the fleet makes them, extrapolated
to the fleet's count). Target: within 1.3× of that floor. Server and client share the
machine, so the server's signing, linting and hashing compete with key generation; the CPU
time each side spent per certificate is printed too (server: the ``sceau serve`` process;
client: the fleet command and its key-generation processes), with the load average.

    python bench/bench_fleet.py [pharmacies=2000] [--no-retrieve] [--client-codes] [--workers=N]
"""

from __future__ import annotations

import concurrent.futures as futures
import csv
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "e2e"))
from api_server import environment, free_port, running_server, sceau, seed

from sceau.client.keys import generate_key_pem

PHARMACIES = int(next((a for a in sys.argv[1:] if a.isdigit()), "2000"))
RETRIEVE = "--no-retrieve" not in sys.argv
CLIENT_CODES = "--client-codes" in sys.argv
WORKERS = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--workers=")), None)
PER_PHARMACY = 3
FLOOR_SAMPLE = 600


def key_generation_rate(count: int) -> tuple[float, float]:
    """Keys per second on every core, made like the fleet makes them, and the CPU seconds
    one key costs (which, unlike the rate, does not depend on what else runs)."""
    workers = os.cpu_count() or 1
    cpu_before = _children_cpu()
    with futures.ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_one_key, range(workers), chunksize=1))  # warm the pool up
        start = time.perf_counter()
        list(pool.map(_one_key, range(count), chunksize=4))
        rate = count / (time.perf_counter() - start)
    return rate, (_children_cpu() - cpu_before) / (count + workers)


def _one_key(_: int) -> bytes:
    return generate_key_pem()


def _server_cpu() -> float:
    """CPU seconds (user + system) of the ``sceau serve`` child of this process."""
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and b"serve" in command:
            return (int(fields[11]) + int(fields[12])) / ticks
    raise RuntimeError("sceau serve process not found")


def _wait_until_server_idle(limit: float = 300.0) -> float:
    """Seconds until the server's in-process worker has done its start-up work (the seeded
    habilitations' mails, CRL and OCSP publication), so that neither the floor sample nor
    the fleet pays for it: less than 2 % of a core over two seconds."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        before = _server_cpu()
        time.sleep(2)
        if _server_cpu() - before < 0.04:
            break
    return time.perf_counter() - start


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        home, port = base / "server", free_port()
        env = environment(home, port)
        started = time.perf_counter()
        sceau(env, "init")
        world = seed(home, PHARMACIES + 2)
        print(
            f"set-up (init + {PHARMACIES} pharmacies habilitated): "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        table = base / "pharmacies.csv"
        with open(table, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["structure"])
            writer.writerows([s] for s in world.structures[:PHARMACIES])
        certificates = PHARMACIES * PER_PHARMACY
        with running_server(env, port, base / "serve.log") as url:
            settled = _wait_until_server_idle()
            print(f"server idle after its start-up work: {settled:.0f} s", flush=True)
            rate, key_cpu = key_generation_rate(FLOOR_SAMPLE)
            floor = certificates / rate
            client_env = {
                **environment(base / "client", port),
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
                str(base / "fleet"),
            ]
            if not RETRIEVE:
                command.append("--no-retrieve")
            if CLIENT_CODES:
                command.append("--client-codes")
            if WORKERS:
                command += ["--workers", WORKERS]
            load_before = os.getloadavg()
            server_before, client_before = _server_cpu(), _children_cpu()
            start = time.perf_counter()
            done = subprocess.run(command, env=client_env, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            server_cpu = _server_cpu() - server_before
            client_cpu = _children_cpu() - client_before
            load_after = os.getloadavg()
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
        with sqlite3.connect(base / "fleet" / "fleet-state.sqlite") as db:
            installed = db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0]
        assert installed == certificates, installed
    cores = os.cpu_count()
    print(
        f"fleet order, {PHARMACIES} pharmacies × {PER_PHARMACY} certificates "
        f"({'with' if RETRIEVE else 'without'} RETIRER"
        f"{', codes made by the client' if CLIENT_CODES else ''}), {cores} cores"
        f"{f', {WORKERS} HTTP workers' if WORKERS else ''}"
    )
    print(
        f"  end to end:            {elapsed:8.1f} s   {certificates / elapsed:7.1f} certificates/s"
    )
    print(
        f"  RSA-2048 keygen floor: {floor:8.1f} s   {rate:7.1f} keys/s on {cores} cores "
        f"(sample of {FLOOR_SAMPLE} keys)"
    )
    print(f"  ratio to the floor:    {elapsed / floor:8.2f}×  (target ≤ 1.30×)")
    per = 1000 / certificates
    both = (server_cpu + client_cpu) * per
    print(
        f"  CPU per certificate:   server {server_cpu * per:.1f} ms, client {client_cpu * per:.1f}"
        f" ms (of which RSA-2048 keygen {key_cpu * 1000:.1f} ms, measured in the floor "
        f"sample), both {both:.1f} ms; {cores} cores × wall = {cores * elapsed * per:.1f} ms"
    )
    print(
        f"  CPU cost ratio:        {both / (key_cpu * 1000):8.2f}×  (all CPU per certificate / "
        "keygen CPU per key: what the ratio tends to when the fleet and the floor sample both "
        "keep every core busy)"
    )
    print(
        "  load average (1, 5, 15 min): before "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after "
        + ", ".join(f"{x:.2f}" for x in load_after)
    )


if __name__ == "__main__":
    main()
