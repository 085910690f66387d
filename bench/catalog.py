"""DuckDB over every version of a dataset: how long the catalog takes to open (every view built:
NAME_all is one pyarrow dataset over all versions' files, the version a partition value) and to
answer typical queries. For 1000 versions and million-row versions see bench/scale.py.

    .venv/bin/python bench/catalog.py                       # 50 versions x 2,000 rows
    .venv/bin/python bench/catalog.py --versions 100 --rows 1000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from flows.catalog import connect, query
from flows.store import DatasetStore
from schemas.manifest import Manifest, StageStats
from schemas.rows import REJECT_SCHEMA, utc_now

WORDS = ("photosynthesis", "tide", "bee", "river", "press", "dough", "handshake", "plate", "water", "light", "energy")
QUERIES = {
    "count over all versions": "SELECT count(*) FROM ds_all",
    "per-version aggregate": "SELECT version, count(*), avg(length(response)) FROM ds_all GROUP BY 1 ORDER BY 1",
    "text search, all versions": "SELECT count(*) FROM ds_all WHERE instruction ILIKE '%photosynthesis%'",
    "judge scores where present": "SELECT judge_quality, count(*) FROM ds_all GROUP BY 1",
    "latest version only": "SELECT count(*) FROM ds",
}


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def version_table(rng: random.Random, v: int, rows: int) -> pa.Table:
    ins = [f"v{v} r{i}: " + text(rng, 20) + "?" for i in range(rows)]
    res = [text(rng, 60) for _ in range(rows)]
    cols = {"id": [f"{v}-{i}" for i in range(rows)], "instruction": ins, "response": res}
    cols["messages"] = [
        [{"role": "user", "content": a}, {"role": "assistant", "content": b}] for a, b in zip(ins, res, strict=True)
    ]
    if v % 2:
        cols["judge_quality"] = [rng.randint(1, 5) for _ in range(rows)]
    return pa.table(cols)


def build(root: Path, versions: int, rows: int) -> None:
    rng = random.Random(0)
    store = DatasetStore(root)
    for v in range(1, versions + 1):
        stats = [StageStats(name="bench", rows_in=rows, rows_out=rows, rejected=0)]
        m = Manifest(
            run_id="bench", created_at=utc_now(), code_version="bench", config={}, stages=stats, rows=rows, rejects=0
        )
        store.publish("ds", {"rows": version_table(rng, v, rows), "rejects": REJECT_SCHEMA.empty_table()}, m)


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def measure(root: Path, versions: int, rows: int, repeat: int) -> list[str]:
    store = DatasetStore(root)
    lines = [
        f"| open the catalog (views over {versions} versions) | {versions} | {versions * rows} | %.1f | %.1f |"
        % timed(lambda: connect(store), repeat)
    ]
    con = connect(store)
    for name, sql in QUERIES.items():
        med, low = timed(lambda sql=sql: con.sql(sql).fetchall(), repeat)
        lines.append(f"| {name} | {versions} | {versions * rows} | {med:.1f} | {low:.1f} |")
    med, low = timed(lambda: query(root, QUERIES["per-version aggregate"]).fetchall(), repeat)
    lines.append(f"| CLI path: open + per-version aggregate | {versions} | {versions * rows} | {med:.1f} | {low:.1f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", type=int, nargs="+", default=[10, 50, 100])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "catalog.md")
    args = ap.parse_args()
    lines = [
        "# DuckDB over all versions",
        "",
        f"Command: `.venv/bin/python bench/catalog.py {' '.join(sys.argv[1:])}`  ",
        f"{os.cpu_count()} cores, duckdb {duckdb.__version__}; median and min of {args.repeat} runs, ms.",
        "",
        "| query | versions | rows | median ms | min ms |",
        "|---|---|---|---|---|",
    ]
    for versions in args.versions:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp), versions, args.rows)
            lines += measure(Path(tmp), versions, args.rows, args.repeat)
    text_out = "\n".join(lines) + "\n"
    print(text_out)
    args.out.write_text(text_out)


if __name__ == "__main__":
    main()
