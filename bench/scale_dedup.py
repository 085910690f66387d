"""Dedup at scale: a stream of N rows through `dedup_batches`, and a check against a 1000-version index.

Rows: 20-120 words each, words drawn from a vocabulary of about 43,000 made-up words with Zipf frequencies (rank^-1,
so "the"-like words are common and unrelated rows share some bigrams, as prose does); 20% of the
rows are copies of an earlier original row (uniform over all earlier rows, so most duplicates
cross batches) with one word replaced. Rows are a pure function of their position, so any slice
of the stream can be made alone and every run sees the same data.

Each measurement runs in a fresh process (peak RSS = VmHWM of that process; generating the rows
is part of the process and is included in wall time and RSS).

    .venv/bin/python bench/scale_dedup.py stream --rows 100000 300000 1000000
    .venv/bin/python bench/scale_dedup.py index --versions 1000 --rows 1000
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOCAB = 50_000
EDIT_SHARE = 0.2
_MASK = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer on uint64 (wrapping arithmetic)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(_MASK)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _uniform(row: np.ndarray, salt: int) -> np.ndarray:
    return (_mix(row.astype(np.uint64) * np.uint64(1_000_003) + np.uint64(salt)) >> np.uint64(11)) / float(1 << 53)


class Stream:
    """Row k of the stream, for any k, without generating the rows before it."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        weights = 1.0 / np.arange(1, VOCAB + 1)
        self.cdf = np.cumsum(weights) / weights.sum()
        rng = np.random.default_rng(seed)
        letters = rng.integers(ord("a"), ord("z") + 1, (VOCAB, 9), dtype=np.uint8)
        words = {bytes(chars[:n]).decode() for chars, n in zip(letters, rng.integers(2, 10, VOCAB), strict=True)}
        self.words = pa.array(rng.permutation(sorted(words)))  # ~43,000 distinct

    def is_edit(self, rows: np.ndarray) -> np.ndarray:
        return (rows > 0) & (_uniform(rows, self.seed + 1) < EDIT_SHARE)

    def source(self, rows: np.ndarray) -> np.ndarray:
        """The original row an edited row copies: a uniform earlier row, stepping back past edits."""
        src = np.floor(_uniform(rows, self.seed + 2) * rows).astype(np.int64)
        while (edits := self.is_edit(src)).any():
            src = np.where(edits, src - 1, src)
        return src

    def words_of(self, originals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(word indices, words per row) of original rows, laid end to end."""
        counts = 20 + (_uniform(originals, self.seed + 3) * 101).astype(np.int64)
        row = np.repeat(originals, counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        u = _uniform(row * 1024 + within, self.seed + 4)
        return np.minimum(np.searchsorted(self.cdf, u), len(self.words) - 1), counts

    def batch(self, first: int, n: int) -> pa.Table:
        rows = np.arange(first, first + n, dtype=np.int64)
        edit = self.is_edit(rows)
        base = np.where(edit, self.source(rows), rows)
        idx, counts = self.words_of(base)
        starts = np.cumsum(counts) - counts
        at = starts + (_uniform(rows, self.seed + 5) * counts).astype(np.int64)
        replacement = (_uniform(rows, self.seed + 6) * len(self.words)).astype(np.int64)
        idx[at[edit]] = replacement[edit]
        offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int32))
        text = pc.binary_join(pa.ListArray.from_arrays(offsets, self.words.take(pa.array(idx))), " ")
        ids = pc.binary_join_element_wise("r", pa.array(rows).cast(pa.string()), "")
        return pa.table({"id": ids, "instruction": text, "response": pa.nulls(n, pa.string()).fill_null("")})

    def batches(self, first: int, n: int, size: int = 10_000) -> Iterator[pa.RecordBatch]:
        for lo in range(first, first + n, size):
            yield from self.batch(lo, min(size, first + n - lo)).to_batches()


def cpu_s() -> float:
    """User + system CPU seconds of this process (the machine is shared: wall time alone misleads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


# ---------------------------------------------------------------- children (one per measurement)


def child_stream(rows: int) -> dict:
    from filters.dedup import DedupConfig, dedup_batches

    started = time.perf_counter()
    rejected, reasons = 0, {}
    for result in dedup_batches(Stream().batches(0, rows), DedupConfig()):
        rejected += result.stats.rejected
        for reason in result.rejects.column("reason").to_pylist():
            reasons[reason] = reasons.get(reason, 0) + 1
    wall = time.perf_counter() - started
    rss = peak_rss_mib()
    return {"rows": rows, "wall": wall, "cpu": cpu_s(), "rows_s": rows / wall, "rss": rss, "rejected": rejected}


def child_build(directory: str, versions: int, rows: int) -> dict:
    from filters.dedup import DedupIndex

    started = time.perf_counter()
    index = DedupIndex(directory)
    stream = Stream()
    for v in range(versions):
        index.add(stream.batch(v * rows, rows), f"v{v + 1}")
    return {"build": time.perf_counter() - started, "rss": peak_rss_mib()}


def child_check(directory: str, versions: int, rows: int) -> dict:
    from filters.dedup import DedupIndex

    table = Stream().batch(versions * rows, rows)
    started = time.perf_counter()
    index = DedupIndex(directory)
    opened = time.perf_counter()
    result = _check(index, table)
    done = time.perf_counter()
    reasons = pc.value_counts(result.rejects.column("reason")).to_pylist() if result.rejects.num_rows else []
    return {
        "open": opened - started,
        "check": done - opened,
        "total": done - started,
        "rss": peak_rss_mib(),
        "rejected": result.stats.rejected,
        "reasons": {r["values"]: r["counts"] for r in reasons},
    }


def _check(index, table: pa.Table):
    from filters.dedup import DedupConfig, combine, dedup_batches

    started = time.perf_counter()
    return combine(table, list(dedup_batches(table, DedupConfig(), index)), started)


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "child", *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ---------------------------------------------------------------- reports


def report_stream(sizes: list[int]) -> None:
    print("| rows | wall s | CPU s | rows/s (wall) | peak RSS MiB | rejected |\n|---|---|---|---|---|---|")
    for n in sizes:
        r = run_child("stream", str(n))
        cells = f"{r['wall']:.1f} | {r['cpu']:.1f} | {r['rows_s']:,.0f} | {r['rss']:.0f} | {r['rejected']:,}"
        print(f"| {n:,} | {cells} |", flush=True)


def report_index(versions: int, rows: int, repeats: int, keep: Path | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="scale-dedup-"))
    directory = keep or tmp / ".dedup-index"
    try:
        if not directory.exists():
            b = run_child("build", str(directory), str(versions), str(rows))
            print(f"built {versions} versions x {rows} rows in {b['build']:.1f} s, peak RSS {b['rss']:.0f} MiB")
        print(f"index on disk: {du(directory) / 2**20:.1f} MiB in {sum(1 for _ in directory.rglob('*'))} files\n")
        print("| run | open s | check s | total s | peak RSS MiB | rejected |\n|---|---|---|---|---|---|")
        for k in range(repeats):
            c = run_child("check", str(directory), str(versions), str(rows))
            print(
                f"| {k + 1} | {c['open']:.2f} | {c['check']:.2f} | {c['total']:.2f} | {c['rss']:.0f} | "
                f"{c['rejected']} {c['reasons']} |",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("stream")
    s.add_argument("--rows", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    i = sub.add_parser("index")
    i.add_argument("--versions", type=int, default=1000)
    i.add_argument("--rows", type=int, default=1000)
    i.add_argument("--repeats", type=int, default=3)
    i.add_argument("--keep", type=Path, help="build the index here (or reuse it when it exists)")
    c = sub.add_parser("child")
    c.add_argument("args", nargs="+")
    args = parser.parse_args()
    if args.what == "stream":
        report_stream(args.rows)
    elif args.what == "index":
        report_index(args.versions, args.rows, args.repeats, args.keep)
    else:
        kind, *rest = args.args
        fn = {"stream": child_stream, "build": child_build, "check": child_check}[kind]
        print(json.dumps(fn(*(int(x) if x.isdigit() else x for x in rest))))


if __name__ == "__main__":
    main()
