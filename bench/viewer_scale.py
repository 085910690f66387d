"""`synthloom view` at scale (issue 22): server time of its pages over a store with 1000 versions x 1000 rows
(dataset `ds`) and one 1M-row version (dataset `big`).

The store is written with pyarrow straight into the store layout (100k-row part files and a format-2 manifest
with sizes and hashes, as `DatasetStore.publish` writes them; no LLM, no lock), like bench/scale.py. Each page is
requested in process through Starlette's TestClient (routing, queries, template; no socket): once on a fresh app
(cold: the catalog, the views it needs and the version's in-memory copy are built), then --repeat times (warm),
printing the median and max wall time and the median CPU time (all threads; on a shared machine the wall time
grows with the load, printed before and after).
Targets: the datasets page <= 300 ms; a page of the 1M-row version (first, deep, sorted, searched) <= 500 ms.

    .venv/bin/python bench/viewer_scale.py                      # builds the store in a temp dir (~1 min)
    .venv/bin/python bench/viewer_scale.py --repeat 9 --data-dir /tmp/viewer-scale   # keep / reuse the store
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.store.datasets import ROWS_PER_PART
from flows.viewer import create_app
from schemas.rows import REJECT_SCHEMA

WORDS = np.array(
    [
        *("photosynthesis", "tide", "bee", "river", "press", "dough", "handshake", "plate", "water", "light", "energy"),
        *("moon", "orbit", "salt", "yeast", "lever", "garden", "signal", "copper", "violin", "glacier", "harbor"),
    ]
)
SOURCES, CATEGORIES = np.array(["magpie", "from_text"]), np.array(["math", "coding", "writing", "advice"])
HOST = "127.0.0.1:9"
PAGES: dict[str, tuple[str, int | None]] = {  # label -> (path, target ms: the issue's; None: no target)
    "datasets page (1000 versions of ds + big)": ("/", 300),
    "dataset page: ds, 1000 versions listed": ("/d/ds", 300),
    "1M-row version: first page": ("/d/big/v/1", 500),
    "1M-row version: deep page (15,000 of 20,000)": ("/d/big/v/1?page=15000", 500),
    "1M-row version: sorted by judge score": ("/d/big/v/1?sort=judge&dir=desc", 500),
    "1M-row version: sorted by judge score, deep page": ("/d/big/v/1?sort=judge&dir=desc&page=12000", 500),
    "1M-row version: sorted by length": ("/d/big/v/1?sort=length&dir=desc", 500),
    "1M-row version: filter category + source": ("/d/big/v/1?category=coding&source=magpie", 500),
    "1M-row version: search a word most rows hold": ("/d/big/v/1?q=glacier", 500),
    "1M-row version: search two words, sorted by judge": ("/d/big/v/1?q=glacier+violin&sort=judge&dir=desc", 500),
    "1M-row version: search a string 11 rows hold": ("/d/big/v/1?q=BIG-77777", 500),
    "1M-row version: a row (all its columns)": ("/d/big/v/1/rows/big-777777", None),
    "diff of two 1000-row versions (near-duplicate matching)": ("/diff?a=ds@v1&b=ds@v2", None),
}


def texts(rng: np.random.Generator, n: int, words: int) -> pa.Array:
    picked = WORDS[rng.integers(0, len(WORDS), size=(n, words))]
    return pa.array([" ".join(row) for row in picked], pa.string())


def rows_table(rng: np.random.Generator, prefix: str, n: int) -> pa.Table:
    """SFT-shaped rows: id, instruction, response, messages, lineage and the viewer's sort/filter columns."""
    ins, res = pc.binary_join_element_wise(texts(rng, n, 12), "?", ""), texts(rng, n, 50)
    turns = pa.StructArray.from_arrays(
        [pa.array(np.tile(["user", "assistant"], n)), pa.concat_arrays([ins, res]).take(interleave(n))],
        names=["role", "content"],
    )
    columns = {
        "id": pa.array([f"{prefix}-{i}" for i in range(n)]),
        "instruction": ins,
        "response": res,
        "messages": pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), turns),
        "source_kind": pa.array(SOURCES[rng.integers(0, 2, n)]),
        "judge_score": pa.array(np.round(rng.uniform(1, 5, n), 1)),
        "judge_category": pa.array(CATEGORIES[rng.integers(0, len(CATEGORIES), n)]),
        "nn_similarity": pa.array(np.round(rng.uniform(0, 1, n), 3)),
    }
    columns["generator"] = columns["source_kind"]
    return pa.table(columns)


def interleave(n: int) -> pa.Array:
    """Indices taking turn i of row r from [instructions..., responses...]: r, n + r for each row."""
    return pa.array(np.stack([np.arange(n), np.arange(n) + n], axis=1).ravel())


def write(path: Path, table: pa.Table) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "rows": table.num_rows}


def write_version(root: Path, name: str, number: int, rows: pa.Table) -> None:
    vdir = root / name / f"v{number}"
    files = {"rejects/part-00000.parquet": write(vdir / "rejects" / "part-00000.parquet", REJECT_SCHEMA.empty_table())}
    for k, start in enumerate(range(0, rows.num_rows, ROWS_PER_PART)):
        part = f"rows/part-{k:05d}.parquet"
        files[part] = write(vdir / part, rows.slice(start, ROWS_PER_PART))
    parents = [f"{name}@v{number - 1}"] if number > 1 else []
    stage = {"name": "bench", "rows_in": rows.num_rows, "rows_out": rows.num_rows, "rejected": 0}
    manifest = {
        "format": 2, "name": name, "version": number, "run_id": f"run{number}", "created_at": "2026-12-03T00:00:00Z",
        "code_version": "bench", "config": {"day": number % 7}, "parent_versions": parents,
        "stages": [stage], "rows": rows.num_rows, "rejects": 0, "files": files,
    }  # fmt: skip
    (vdir / "manifest.json").write_text(json.dumps(manifest, indent=2))


def build(root: Path, versions: int, rows: int, big: int) -> None:
    rng = np.random.default_rng(0)
    for v in range(1, versions + 1):
        write_version(root, "ds", v, rows_table(rng, f"v{v}", rows))
    write_version(root, "big", 1, rows_table(rng, "big", big))


def timed_get(client, path: str) -> tuple[float, float]:
    """(wall ms, CPU ms of this process, all threads) of one request."""
    wall, cpu = time.perf_counter(), time.process_time()
    answer = client.get(path)
    elapsed = ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
    if answer.status_code != 200:
        raise SystemExit(f"{path}: HTTP {answer.status_code}\n{answer.text[:2000]}")
    return elapsed


def measure(root: Path, repeat: int) -> None:
    """Each page on a fresh app: cold once, then `repeat` warm requests; a row of the results table per page."""
    from starlette.testclient import TestClient

    print("| page | target | cold wall | warm wall median / max | warm CPU median | met |")
    print("|---|---|---|---|---|---|")
    for label, (path, target) in PAGES.items():
        with TestClient(create_app(root, {HOST}), base_url=f"http://{HOST}") as client:
            cold, _ = timed_get(client, path)
            walls, cpus = zip(*(timed_get(client, path) for _ in range(repeat)), strict=True)
        median, worst, cpu = statistics.median(walls), max(walls), statistics.median(cpus)
        met = "—" if target is None else "yes" if median <= target else "NO"
        times = f"{cold:.0f} ms | {median:.0f} / {worst:.0f} ms | {cpu:.0f} ms"
        print(f"| {label} `{path}` | {f'{target} ms' if target else '—'} | {times} | {met} |")


def check(root: Path) -> None:
    """The in-memory copy answers as the view does: a deep id page, a deep judge page, a search (exits if not)."""
    from flows.viewer import rowindex
    from flows.viewer.data import ViewerData
    from flows.viewer.queries import RowQuery, rows_page

    queries = [RowQuery(page=15000), RowQuery(sort="judge", desc=True, page=12000), RowQuery(q="big-77777 GLACIER")]
    data = ViewerData(root)
    rows_page(data, "big", 1, RowQuery(sort="judge"))  # makes the copy
    copied = [rows_page(data, "big", 1, q) for q in queries]
    budget, rowindex.INDEX_BYTES = rowindex.INDEX_BYTES, 0
    try:
        viewed = [rows_page(ViewerData(root), "big", 1, q) for q in queries]
    finally:
        rowindex.INDEX_BYTES = budget
    for q, a, b in zip(queries, copied, viewed, strict=True):
        if (a.total, a.rows) != (b.total, b.rows):
            raise SystemExit(f"the in-memory copy and the view disagree on {q}")
    print(f"checked: the in-memory copy and the view give the same {len(queries)} pages")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="warm requests per page")
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=1000, help="rows per version of ds")
    ap.add_argument("--big", type=int, default=1_000_000, help="rows of big@v1")
    ap.add_argument("--data-dir", type=Path, help="build the store here (reused if it is there), not in a temp dir")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.data_dir or Path(tmp)) / "datasets"
        if not root.is_dir():
            started = time.perf_counter()
            build(root, args.versions, args.rows, args.big)
            print(f"built {args.versions} x {args.rows:,} + {args.big:,} rows in {time.perf_counter() - started:.0f} s")
        print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), f"({os.cpu_count()} cores)")
        measure(root, args.repeat)
        check(root)
        print("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
