"""Benchmark: import a generated FINESS extract of 100,000 structures into SQLite.

Prints lines/s for the first import (all inserts) and for a second run of the same file
(everything unchanged). Target (issue): 100,000 lines in under 30 s.

    .venv/bin/python bench/bench_finess_import.py [--count 100000] [--url sqlite:///...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sceau.bootstrap import Container
from sceau.config import Settings
from sceau.registration.finess_extract import write_extract
from sceau.registration.use_cases.finess_import import import_finess_extract
from sceau.storage.database import upgrade_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument(
        "--url", default=None, help="database URL (default: a temporary SQLite file)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        url = args.url or f"sqlite:///{home / 'bench.db'}"
        upgrade_database(url)
        extract_path = home / "etalab-cs1100507-stock-bench.csv"
        started = time.perf_counter()
        extract = write_extract(extract_path, args.count, seed=20260512, broken=args.count // 1000)
        print(
            f"generated {extract.records} structures + {len(extract.broken)} broken lines "
            f"+ {extract.geolocations} geolocations in {time.perf_counter() - started:.1f} s"
        )
        container = Container(settings=Settings(home=home, database_url=url))
        for run in ("first import", "second import"):
            started = time.perf_counter()
            report = import_finess_extract(container, extract_path, environment="prod")
            elapsed = time.perf_counter() - started
            print(
                f"{run}: {report.lines} lines in {elapsed:.1f} s = "
                f"{report.lines / elapsed:,.0f} lines/s "
                f"({extract.records / elapsed:,.0f} structures/s); imported {report.imported}, "
                f"updated {report.updated}, unchanged {report.unchanged}, "
                f"rejected {len(report.rejected)}"
            )
        container.close()


if __name__ == "__main__":
    main()
