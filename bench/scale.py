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
    .venv/bin/python bench/scale.py --publish-rows 100000 1000000   # heuristics+dedup+decontam+card, wall/RSS
    .venv/bin/python bench/scale.py --publish-rows 1000000 --heuristic-shards 1   # the same, heuristics on 10k
    .venv/bin/python bench/scale.py --heuristics-rows 20000        # rows/s, lingua on every text vs fast path
    .venv/bin/python bench/scale.py --one-off-rows 1000000         # `synthloom dedup` of a 1M-row version, in process
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
FUNCTION_WORDS = "the of and to a in is it that for you with as on be are this by or not have from at which"


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


# -- a 1M-row publish through the non-LLM stages -------------------------------------------------


VOCAB_ROWS = 205  # the labeled rows when this bench was written: rows added since must not change its stream


@functools.cache
def _english_stream() -> Any:
    """scale_dedup's Stream with English words (those of the labeled quality set) in place of made-up ones, so
    the language check keeps the rows (made-up words read as random languages: 99% were rejected)."""
    from scale_dedup import VOCAB, Stream  # bench/ is sys.path[0] when this file runs as a script

    path = Path(__file__).resolve().parents[1] / "data" / "quality" / "labeled.jsonl"
    labeled = "".join(path.read_text().splitlines(keepends=True)[:VOCAB_ROWS]).lower()
    head = FUNCTION_WORDS.split()
    vocab = np.random.default_rng(1).permutation(sorted(set(re.findall(r"[a-z]{2,}", labeled)) - set(head)))
    stream = Stream()  # Zipf ranks: function words first, as in English prose (~1/3 of the words)
    stream.words = pa.array(np.resize(np.concatenate([head, vocab]), VOCAB))
    return stream


def publish_rows_table(first: int, n: int) -> pa.Table:
    """Rows of the kind bench/scale_dedup.py streams (20% one-word edits of earlier rows), as SFT rows: the
    instruction is the text's first ~12 words as a question, the response the whole text as a sentence."""
    text = _english_stream().batch(first, n).column("instruction").combine_chunks()
    head = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(text, 0, 70))
    instruction = pc.binary_join_element_wise("Explain ", head, "?", "")
    response = pc.binary_join_element_wise(text, ".", "")
    ids = pc.binary_join_element_wise("r", pa.array(np.arange(first, first + n)).cast(pa.string()), "")
    return pa.table({"id": ids, "instruction": instruction, "response": response})


def _benchmark_file(path: Path, n_rows: int) -> Path:
    """A 200-item benchmark: 20 items copy rows of the stream (so decontamination finds something)."""
    rows = publish_rows_table(0, min(n_rows, 20)).column("response").to_pylist()
    extra = [f"question {i}: " + " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(20)) for i in range(180)]
    path.write_text("".join(json.dumps({"id": f"b{i}", "question": t}) + "\n" for i, t in enumerate(rows + extra)))
    return path


def _vm_rss_mib() -> float:
    text = Path("/proc/self/status").read_text()
    return int(text.split("VmRSS:")[1].split()[0]) / 1024


def _vm_hwm_mib() -> float:
    text = Path("/proc/self/status").read_text()
    return int(text.split("VmHWM:")[1].split()[0]) / 1024


def publish_child(n_rows: int, shard_rows: int, root: Path, heuristic_shards: int | None = None) -> dict:
    """What `publish_run` does after the shard tasks, through its own functions (flows/run/finish.py):
    shards' rows as Parquet checkpoint files (heuristics run on them first, in this process, as the
    local task runner's shard tasks do), then gather -> merge -> dedup -> decontaminate (streamed into
    a spill file) -> publish with the card -> the dedup index update. Wall, CPU and peak RSS per step.
    With heuristic_shards=K only the first K shards go through heuristics (the process still loads
    lingua's models as a run does); the other shards' rows are checkpointed as they are."""
    from types import SimpleNamespace

    import pyarrow.parquet as pq

    from filters.decontaminate import DecontamConfig
    from filters.dedup import DedupConfig
    from filters.heuristics import Heuristics
    from flows.report import write_card
    from flows.run.finish import Gathered, filter_all
    from flows.run.indexes import sync_index
    from flows.store.publish import publish_version
    from flows.store.spill import Spill
    from flows.store.tempdirs import scratch_dir

    store, shards = DatasetStore(root / "datasets"), root / "shards"
    shards.mkdir()
    stages, mark = {}, [time.perf_counter(), _cpu()]

    def lap(name: str) -> None:
        now, cpu = time.perf_counter(), _cpu()
        stages[name] = {"wall": now - mark[0], "cpu": cpu - mark[1], "rss": _vm_hwm_mib(), "now": _vm_rss_mib(),
                        "arrow": pa.total_allocated_bytes() / 2**20}  # fmt: skip
        mark[:] = [now, cpu]

    g, heuristics, files = Gathered(), Heuristics(), []
    for shard, first in enumerate(range(0, n_rows, shard_rows)):
        rows = publish_rows_table(first, min(shard_rows, n_rows - first))
        if heuristic_shards is None or shard < heuristic_shards:
            result = heuristics(rows)
            g.add_result(result)
            rows = result.rows
        files.append(shards / f"{shard:05d}.parquet")
        pq.write_table(rows, files[-1])
        del rows
    lap("heuristics" if heuristic_shards is None else f"heuristics ({heuristic_shards} shards)")
    cfg = SimpleNamespace(dataset="ds", dedup=DedupConfig(), semantic_dedup=None, dedup_against=())
    cfg.decontaminate = DecontamConfig(sources=(_benchmark_file(root / "bench.jsonl", n_rows),))
    with scratch_dir(store.root / "ds") as scratch:
        rejects = Spill(scratch / "rejects.arrow", REJECT_SCHEMA)
        for table in g.rejects:
            rejects.write(table)
        g = Gathered(rows=files, stages=g.stages, spill=rejects)
        rows = filter_all(SimpleNamespace(cfg=cfg), store, g, scratch)
        lap("merge + dedup + decontaminate (streamed)")
        version = publish_version(
            store, "ds", rows, g.all_rejects(), list(g.stages.values()), {}, "bench", [], card=write_card
        )
        lap("publish + card")
    sync_index(store, "ds", cfg.dedup)
    lap("dedup index update")
    counts = {s.name: s.rejected for s in g.stages.values()}
    seconds = {s.name: s.seconds for s in g.stages.values()}
    return {"rows": n_rows, "kept": version.manifest().rows, "rejected": counts, "seconds": seconds,
            "stages": stages, "card": any(version.path.glob("*.md"))}  # fmt: skip


def one_off_child(n_rows: int, root: Path) -> dict:
    """`synthloom dedup src --out out` without Prefect (`run_in_process`, the run core the CLI uses): a
    published N-row version read as a dataset source (shards of 50k rows, read when each runs),
    deduped into a new version. Publishing the input streams through a spill, so it is not held."""
    from flows.report import write_card
    from flows.run.core import PipelineRun
    from flows.run.one_off import TransformConfig, transform
    from flows.run.order import run_in_process
    from flows.store.publish import publish_version
    from flows.store.spill import Spill
    from schemas.manifest import StageStats

    store = DatasetStore(root / "datasets")
    started, cpu = time.perf_counter(), _cpu()
    spill = Spill(root / "input.arrow", publish_rows_table(0, 1).schema)
    for first in range(0, n_rows, 50_000):
        spill.write(publish_rows_table(first, min(50_000, n_rows - first)))
    stats = [StageStats(name="bench", rows_in=n_rows, rows_out=n_rows, rejected=0)]
    publish_version(store, "src", spill.close(), [], stats, {}, "bench", [], card=write_card)
    build = {"wall": time.perf_counter() - started, "rss": _vm_hwm_mib()}
    started, cpu = time.perf_counter(), _cpu()
    run = PipelineRun(transform("dedup", "src", "out", TransformConfig()), store.root, "", "bench-one-off")
    (version,) = run_in_process(run)
    m = version.manifest()
    return {"build": build, "wall": time.perf_counter() - started, "cpu": _cpu() - cpu, "rss": _vm_hwm_mib(),
            "kept": m.rows, "rejects": m.rejects}  # fmt: skip


def report_publish(sizes: list[int], shard_rows: int, heuristic_shards: int | None = None) -> str:
    only = "" if heuristic_shards is None else f" --heuristic-shards {heuristic_shards}"
    lines = [
        f"Command: `.venv/bin/python bench/scale.py --publish-rows {' '.join(map(str, sizes))}{only}`; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; one fresh process per size; "
        f"heuristics in shards of {shard_rows:,} rows{'' if not only else f' (the first {heuristic_shards} only)'}; "
        "peak RSS = VmHWM after the step (cumulative: the process's peak so far), RSS after = VmRSS then. "
        "Per-stage seconds inside the streamed step are the manifest's.",
        "",
        "| rows | step | wall s | CPU s | rows/s (wall) | peak RSS MiB | RSS after MiB | rejected |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        cmd = [sys.executable, __file__, "--publish-child", str(n), "--shard-rows", str(shard_rows)]
        cmd += [] if heuristic_shards is None else ["--heuristic-shards", str(heuristic_shards)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        for name, s in r["stages"].items():
            stages = [k for k in r["rejected"] if k in name.split(" (")[0].split(" + ")]
            rejected = ", ".join(f"{k} {r['rejected'][k]:,}" for k in stages)
            lines.append(f"| {n:,} | {name} | {s['wall']:.1f} | {s['cpu']:.1f} | {n / s['wall']:,.0f} | "
                         f"{s['rss']:.0f} | {s['now']:.0f} | {rejected} |")  # fmt: skip
            if "streamed" in name:
                inner = ", ".join(f"{k} {r['seconds'][k]:.1f} s" for k in stages)
                lines.append(f"| {n:,} | ↳ of which (manifest) | {inner} | | | | | |")
        total = sum(s["wall"] for s in r["stages"].values()), sum(s["cpu"] for s in r["stages"].values())
        lines.append(f"| {n:,} | **total** ({r['kept']:,} kept) | {total[0]:.1f} | {total[1]:.1f} | "
                     f"{n / total[0]:,.0f} | {max(s['rss'] for s in r['stages'].values()):.0f} | | |")  # fmt: skip
    return "\n".join(lines) + "\n"


def heuristics_child(n_rows: int, shard_rows: int, fast: bool) -> dict:
    """Heuristics over n_rows bench rows in shards, one path (fast: plainly English text skips lingua)."""
    from filters.heuristics import HeuristicsConfig, heuristic_verdicts, language_detector

    cfg = HeuristicsConfig()
    language_detector(cfg.detector_languages(), cfg.language_low_accuracy)
    heuristic_verdicts(publish_rows_table(10**8, 200), cfg, fast)  # warm-up: lingua loads models lazily
    wall, cpu, verdicts = time.perf_counter(), _cpu(), []
    for first in range(0, n_rows, shard_rows):
        verdicts += heuristic_verdicts(publish_rows_table(first, min(shard_rows, n_rows - first)), cfg, fast)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    rejected = sum(v is not None for v in verdicts)
    return {"wall": wall, "cpu": cpu, "rss": _vm_hwm_mib(), "rejected": rejected, "verdicts": verdicts}


def report_heuristics(sizes: list[int], shard_rows: int) -> str:
    lines = [
        f"Command: `.venv/bin/python bench/scale.py --heuristics-rows {' '.join(map(str, sizes))}`; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; one fresh process per cell; "
        f"shards of {shard_rows:,} rows; lingua's models loaded before timing.",
        "",
        "| rows | path | wall s | CPU s | rows/s (wall) | rows/s (CPU) | peak RSS MiB | rejected |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        verdicts = []
        for path in ("lingua on every text", "fast"):
            cmd = [sys.executable, __file__, "--heuristics-child", str(n), "--shard-rows", str(shard_rows)]
            out = subprocess.run(cmd + (["--fast"] if path == "fast" else []), capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            verdicts.append(r["verdicts"])
            lines.append(f"| {n:,} | {path} | {r['wall']:.1f} | {r['cpu']:.1f} | {n / r['wall']:,.0f} | "
                         f"{n / r['cpu']:,.0f} | {r['rss']:.0f} | {r['rejected']:,} |")  # fmt: skip
        differ = [i for i, (a, b) in enumerate(zip(*verdicts, strict=True)) if a != b]
        lines.append(f"| {n:,} | rows whose verdict differs | {len(differ)} | {differ[:10]} | | | | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", nargs="+", default=["1000x1000", "10x100000"], help="VERSIONSxROWS per version")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", help="git revision whose flows/catalog.py to time as 'before'")
    ap.add_argument("--data-dir", type=Path, help="time this existing data dir (one --stores shape, its label)")
    ap.add_argument("--publish-rows", type=int, nargs="+", help="instead: publish N rows through the non-LLM stages")
    ap.add_argument("--shard-rows", type=int, default=10_000, help="heuristics shard size for --publish-rows")
    ap.add_argument("--heuristics-rows", type=int, nargs="+", help="instead: heuristics rows/s, both language paths")
    ap.add_argument("--heuristic-shards", type=int, help="--publish-rows: heuristics on the first K shards only")
    ap.add_argument("--one-off-rows", type=int, help="instead: `synthloom dedup` of a published N-row version")
    ap.add_argument("--publish-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--heuristics-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.heuristics_child:
        print(json.dumps(heuristics_child(args.heuristics_child, args.shard_rows, args.fast)))
        return
    if args.heuristics_rows:
        text = report_heuristics(args.heuristics_rows, args.shard_rows)
        print(text)
        name = "_".join(str(n) for n in args.heuristics_rows)
        (Path(__file__).resolve().parent / "results" / f"scale_heuristics_{name}.md").write_text(text)
        return
    if args.one_off_rows:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one_off_child(args.one_off_rows, Path(tmp))))
        return
    if args.publish_child:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(publish_child(args.publish_child, args.shard_rows, Path(tmp), args.heuristic_shards)))
        return
    if args.publish_rows:
        text = report_publish(args.publish_rows, args.shard_rows, args.heuristic_shards)
        print(text)
        name = "_".join(str(n) for n in args.publish_rows) + ("" if args.heuristic_shards is None else "_hsample")
        (Path(__file__).resolve().parent / "results" / f"scale_publish_{name}.md").write_text(text)
        return
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
