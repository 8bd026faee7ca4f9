"""CSV import throughput: a large earnings export streamed into the database.

What ``huntaze import FILE`` and a CSV sent in chat run (``CsvImporter``: decode, find the
header, parse and check every row, batched idempotent writes), against a baseline measured in
the same run on the same file:

- **csv module**: Python's ``csv.reader`` splitting every line into cells, nothing else; the
  least any import of the file can cost. The ratio says how many times that an import takes.
- **huntaze/sqlite**: a fresh SQLite file; **huntaze/postgres**: a throw-away PostgreSQL
  database (``BENCH_POSTGRES_URL``, see ``bench/common.py``), dropped after.
- **again**: the same file imported a second time (every row recognised, nothing written).
- **fans**: a platform's fan list (``--fans`` rows: name, level, lifetime spend, last seen,
  labels) into the same kind of database; "again" finds every fan up to date.

The earnings export names 20,000 fans: its first import also adds them to the fan list (the
fans who paid, with what they spent and their last payment's day).

Each target is run ``--repeat`` times (a fresh database each time); the best run counts (the
machine is shared). CPU is this process's (the database servers' own work is not in it).

Run: ``.venv/bin/python bench/imports.py [--mb 20] [--repeat 3] [--backends sqlite,postgres]``.
Prints a table; the last line is one JSON object. There is no goal for it in the issues: it
guards against regressions (a year of exports is what a creator waits for).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import throwaway_database  # noqa: E402


def csv_baseline(path: Path) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for _ in csv.reader(handle):
            rows += 1
    return _figures(rows - 1, time.perf_counter() - wall, time.process_time() - cpu)


def _figures(rows: int, wall: float, cpu: float) -> dict[str, float]:
    return {
        "rows": rows,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "rows_per_s": round(rows / wall, 1),
    }


async def import_twice(url: str, path: Path) -> dict[str, dict[str, float]]:
    """The file imported into a fresh account, then again (nothing new the second time)."""
    from core.clock import SystemClock
    from core.models import Identity
    from core.services.imports import CsvImporter, import_file
    from storage.db import create_engine, migrate
    from storage.repositories import SqlStore

    await migrate(url)
    engine = create_engine(url)
    try:
        clock = SystemClock()
        store = SqlStore(engine, clock)
        account = await store.accounts.resolve(Identity(platform="console", external_id="bench"))
        importer = CsvImporter(store, clock)
        out: dict[str, dict[str, float]] = {}
        for phase in ("first", "again"):
            wall, cpu = time.perf_counter(), time.process_time()
            report = await import_file(importer, account.id, path)
            figures = _figures(report.rows, time.perf_counter() - wall, time.process_time() - cpu)
            expected = (report.rows, 0) if phase == "first" else (0, report.rows)
            if report.kind == "fans":  # (added, updated) fans
                expected = (report.rows, 0) if phase == "first" else (0, 0)
                got = (report.added, report.updated)
            else:
                got = (report.added, report.unchanged)
            if got != expected or report.bad_count:
                raise SystemExit(f"{phase} import went wrong: {report.text()}")
            out[phase] = figures
        return out
    finally:
        await engine.dispose()


async def measure(backend: str, path: Path, repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        if backend == "sqlite":
            folder = tempfile.mkdtemp(prefix="huntaze-bench-")
            runs.append(await import_twice(f"sqlite+aiosqlite:///{folder}/bench.db", path))
        else:
            async with throwaway_database() as url:
                runs.append(await import_twice(url, path))
    return {
        phase: min((r[phase] for r in runs), key=lambda f: f["seconds"])
        for phase in ("first", "again")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="size of the export")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--fans", type=int, default=20000, help="rows of the fan list (0: none)")
    args = parser.parse_args()

    from tests.fakes.exports import write_export, write_fan_export

    folder = Path(tempfile.mkdtemp(prefix="huntaze-bench-"))
    path = folder / "earnings.csv"
    rows, _ = write_export(path, int(args.mb * 1024 * 1024))
    fan_list = folder / "fans.csv"
    if args.fans:
        write_fan_export(fan_list, args.fans)
    baseline = min((csv_baseline(path) for _ in range(args.repeat)), key=lambda f: f["seconds"])
    results: dict[str, Any] = {"csv": baseline}
    if args.fans:
        results["csv fans"] = min(
            (csv_baseline(fan_list) for _ in range(args.repeat)), key=lambda f: f["seconds"]
        )
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            results[backend] = asyncio.run(measure(backend, path, args.repeat))
            if args.fans:
                results[f"{backend} fans"] = asyncio.run(measure(backend, fan_list, args.repeat))
        except OSError as exc:  # no PostgreSQL here: say so, keep the other figures
            results[backend] = {"error": f"{backend} unavailable: {exc}"}

    print(
        f"CSV import - an earnings export of {args.mb:g} MB ({rows:,} rows) and a fan list of "
        f"{args.fans:,}, best of {args.repeat}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(f"{'target':<28}{'rows/s':>10}{'seconds':>9}{'cpu s':>8}{'x csv':>7}")
    print("-" * 62)
    base = baseline["seconds"]
    print(f"{'csv module':<28}{baseline['rows_per_s']:>10,.0f}{base:>9.2f}"
          f"{baseline['cpu_seconds']:>8.2f}{1:>7.1f}")  # fmt: skip
    if args.fans:
        fans_base = results["csv fans"]
        print(f"{'csv module fans':<28}{fans_base['rows_per_s']:>10,.0f}"
              f"{fans_base['seconds']:>9.2f}{fans_base['cpu_seconds']:>8.2f}{1:>7.1f}")  # fmt: skip
    for backend, figures in results.items():
        if backend.startswith("csv"):
            continue
        if "error" in figures:
            print(f"huntaze/{backend:<20}{figures['error']}")
            continue
        for phase, label in (("first", ""), ("again", " again")):
            f = figures[phase]
            name = f"huntaze/{backend}{label}"
            of = results["csv fans"]["seconds"] if backend.endswith("fans") else base
            ratio = f"{f['seconds'] / of:>7.1f}"
            print(f"{name:<28}{f['rows_per_s']:>10,.0f}{f['seconds']:>9.2f}"
                  f"{f['cpu_seconds']:>8.2f}{ratio}")  # fmt: skip
    print(
        json.dumps(
            {
                "benchmark": "imports",
                "mb": args.mb,
                "rows": rows,
                "repeat": args.repeat,
                "load_average": round(os.getloadavg()[0], 2),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
