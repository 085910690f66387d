"""Catalog at scale: a year or three of daily versions, and million-row versions.

Builds each store with pyarrow straight into the store layout (manifest with file sizes and
hashes, as `DatasetStore.publish` writes it; no LLM, no lock, fast), then times, median of
--repeat runs:
  in-process, catalog already open: count(*) over ds_all, per-version count, per-version
  count + avg(length(response)), text search over all versions, latest version only;
  in-process `query()` path (open the catalog + the query, what the CLI does after start-up);
  subprocesses: `synthloom query` end to end, `datasets list`, `datasets show` (card already written).
With --before GITREV, the same in-process timings for the catalog module of that commit.

    .venv/bin/python bench/scale.py                                   # 1000x1000 and 10x100000
    .venv/bin/python bench/scale.py --stores 10x1000000 --repeat 3
    .venv/bin/python bench/scale.py --stores 1000x1000 --before 491f51d
    .venv/bin/python bench/scale.py --stores 10x1000000 --data-dir /tmp/big   # an existing store, not rebuilt
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flows.catalog import Catalog, query
from flows.store import DatasetStore
from schemas.rows import REJECT_SCHEMA

WORDS = np.array(
    ["photosynthesis", "tide", "bee", "river", "press", "dough", "handshake", "plate", "water", "light", "energy"]
)
CLI = [sys.executable, "-m", "flows.cli"]
QUERIES = {
    "count(*) over ds_all": "SELECT count(*) FROM ds_all",
    "per-version count": "SELECT version, count(*) FROM ds_all GROUP BY 1 ORDER BY 1",
    "per-version count + avg(length(response))": (
        "SELECT version, count(*), avg(length(response)) FROM ds_all GROUP BY 1 ORDER BY 1"
    ),
    "text search over all versions (ILIKE)": "SELECT count(*) FROM ds_all WHERE instruction ILIKE '%photosynthesis%'",
    "latest version only": "SELECT count(*) FROM ds",
}
E2E = "per-version count"


def texts(rng: np.random.Generator, n: int, words: int) -> list[str]:
    return [" ".join(row) for row in WORDS[rng.integers(0, len(WORDS), size=(n, words))]]


def version_table(rng: np.random.Generator, v: int, rows: int) -> pa.Table:
    ins = [f"v{v} r{i}: {t}?" for i, t in enumerate(texts(rng, rows, 20))]
    res = texts(rng, rows, 60)
    cols = {"id": [f"{v}-{i}" for i in range(rows)], "instruction": ins, "response": res}
    cols["messages"] = [
        [{"role": "user", "content": a}, {"role": "assistant", "content": b}] for a, b in zip(ins, res, strict=True)
    ]
    if v % 2:  # half the versions carry a judge column: NAME_all reconciles two schemas
        cols["judge_quality"] = rng.integers(1, 6, rows).tolist()
    return pa.table(cols)


def _write(path: Path, table: pa.Table) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "rows": table.num_rows}


def build(root: Path, versions: int, rows: int) -> None:
    rng = np.random.default_rng(0)
    for v in range(1, versions + 1):
        vdir = root / "ds" / f"v{v}"
        files = {
            "rows/part-00000.parquet": _write(vdir / "rows" / "part-00000.parquet", version_table(rng, v, rows)),
            "rejects/part-00000.parquet": _write(vdir / "rejects" / "part-00000.parquet", REJECT_SCHEMA.empty_table()),
        }
        stage = {"name": "bench", "rows_in": rows, "rows_out": rows, "rejected": 0}
        manifest = {
            "format": 2, "name": "ds", "version": v, "run_id": f"run{v}", "created_at": "2026-11-29T00:00:00Z",
            "code_version": "bench", "config": {"day": v % 7}, "parent_versions": [f"src@v{v}"],
            "stages": [stage], "rows": rows, "rejects": 0, "files": files,
        }  # fmt: skip
        (vdir / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _cpu() -> float:
    """CPU seconds of this process (all threads) plus finished children: the work, whatever the load."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median wall ms, median CPU ms) of `repeat` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        fn()
        walls.append((time.perf_counter() - t) * 1000)
        cpus.append((_cpu() - c) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def cli(data: Path, *args: str) -> None:
    env = {**os.environ, "SYNTHLOOM_DATA_DIR": str(data)}
    subprocess.run([*CLI, *args], env=env, check=True, capture_output=True)


def old_catalog(rev: str) -> types.ModuleType:
    """The catalog module as it was at `rev` (a single file then), loaded beside today's code."""
    source = subprocess.run(["git", "show", f"{rev}:flows/catalog.py"], capture_output=True, text=True, check=True)
    module = types.ModuleType("old_catalog")
    exec(compile(source.stdout, f"{rev}:flows/catalog.py", "exec"), module.__dict__)
    return module


def measure_new(root: Path, repeat: int) -> dict[str, tuple[float, float]]:
    store = DatasetStore(root)
    out = {"open the catalog (views ds, ds_all)": timed(lambda: Catalog(store).ensure(["ds", "ds_all"]), repeat)}
    catalog = Catalog(store)
    catalog.ensure(["ds", "ds_all"])
    for label, sql in QUERIES.items():
        out[label] = timed(lambda sql=sql: catalog.con.sql(sql).fetchall(), repeat)
    out[f"query() path: open + {E2E}"] = timed(lambda: query(root, QUERIES[E2E]).fetchall(), repeat)
    return out


def measure_old(root: Path, repeat: int, old: types.ModuleType) -> dict[str, tuple[float, float]]:
    store = DatasetStore(root)
    out = {"open the catalog (views ds, ds_all)": timed(lambda: old.connect(store), repeat)}
    con: duckdb.DuckDBPyConnection = old.connect(store)
    for label, sql in QUERIES.items():
        out[label] = timed(lambda sql=sql: con.sql(sql).fetchall(), repeat)
    out[f"query() path: open + {E2E}"] = timed(lambda: old.query(root, QUERIES[E2E]).fetchall(), repeat)
    return out


def measure_cli(data: Path, repeat: int) -> dict[str, tuple[float, float]]:
    cli(data, "datasets", "show", "ds")  # writes the latest version's card once, as the first show does
    return {
        f"`synthloom query` end to end ({E2E})": timed(lambda: cli(data, "query", QUERIES[E2E]), repeat),
        "`synthloom datasets list`": timed(lambda: cli(data, "datasets", "list"), repeat),
        "`synthloom datasets show ds` (card written)": timed(lambda: cli(data, "datasets", "show", "ds"), repeat),
        "`python -c 'import flows.cli'` (start-up floor)": timed(
            lambda: subprocess.run([sys.executable, "-c", "import flows.cli"], check=True), repeat
        ),
    }


def run_store(shape: str, repeat: int, before: str | None, existing: Path | None = None) -> list[str]:
    versions, rows = (int(x) for x in shape.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        data = existing or Path(tmp)
        if existing is None:
            t = time.perf_counter()
            build(data / "datasets", versions, rows)
            print(f"built {shape} in {time.perf_counter() - t:.0f}s", file=sys.stderr)
        new = {**measure_new(data / "datasets", repeat), **measure_cli(data, repeat)}
        old = measure_old(data / "datasets", repeat, old_catalog(before)) if before else {}
    lines = []
    for label, (wall, cpu) in new.items():
        was = "{:.0f} / {:.0f}".format(*old[label]) if label in old else ""
        lines.append(f"| {versions} x {rows:,} | {label} | {was} | {wall:.0f} / {cpu:.0f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", nargs="+", default=["1000x1000", "10x100000"], help="VERSIONSxROWS per version")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", help="git revision whose flows/catalog.py to time as 'before'")
    ap.add_argument("--data-dir", type=Path, help="time this existing data dir (one --stores shape, its label)")
    args = ap.parse_args()
    lines = [
        f"Command: `.venv/bin/python bench/scale.py {' '.join(sys.argv[1:])}`; {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start, duckdb {duckdb.__version__}, pyarrow {pa.__version__}; "
        f"median of {args.repeat}; wall ms / CPU ms (all threads and child processes: the work done, which"
        " load from other jobs does not inflate as much as wall time).",
        "",
        f"| store (versions x rows) | measurement | before ({args.before or 'not run'}) wall / CPU | now wall / CPU |",
        "|---|---|---|---|",
    ]
    for shape in args.stores:
        text = "\n".join([*lines, *run_store(shape, args.repeat, args.before, args.data_dir)]) + "\n"
        print(text)
        (Path(__file__).resolve().parent / "results" / f"scale_catalog_{shape}.md").write_text(text)


if __name__ == "__main__":
    main()
