"""How long `synthloom eval` takes on a 500-row version, with its defaults (issue 21: <= 15 min on this
2-core machine, base scores not cached).

The eval's time depends on how many rows it trains on (`max_rows`, a seeded sample), their lengths and
the suite, not on what the rows say. The 500-row version is made of the embedded model's own output:
the instruction/answer pairs of `sens@v1` (bench/eval_sensitivity.py makes it: kept rows and the
rejects that have an answer: 221 pairs), taken in a seeded order and repeated to 500 records; import
keeps one of each exact repeat, so the version has 221 rows. Either way `max_rows` (96) rows train.

Rerun: .venv/bin/python bench/eval_time.py --data-dir /tmp/sens   (after bench/eval_sensitivity.py)
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow.parquet as pq
from eval_sensitivity import REPO, SYNTHLOOM, pair

ROWS = 500


def pairs_of(version_dir: Path) -> list[dict[str, str]]:
    rows = pq.read_table(version_dir / "rows").select(["instruction", "response"]).to_pylist()
    rejects = pq.read_table(version_dir / "rejects").to_pylist()
    answered = [p for r in rejects if (p := pair(json.loads(r["record"]), r["reason"], r["raw_text"]))]
    out = rows + [{"instruction": q, "response": a} for q, a in answered]
    random.Random(0).shuffle(out)
    return [out[i % len(out)] for i in range(ROWS)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    data = ap.parse_args().data_dir.resolve()
    path = data / "t500.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pairs_of(data / "datasets/sens/v1")))
    cache = data / "datasets" / ".cache" / "evals"
    for old in cache.glob("base-*.json") if cache.is_dir() else []:
        old.unlink()  # time the first eval of a base: its scores are measured, not read from cache
    for args in (["import", str(path), "--dataset", "t500"], ["eval", "t500@v1"]):
        cmd = [SYNTHLOOM, *args, "--data-dir", str(data)]
        print("$", " ".join(cmd), flush=True)
        started = time.perf_counter()
        done = subprocess.run(cmd, text=True, cwd=REPO)
        print(f"[{time.perf_counter() - started:.0f}s wall]", flush=True)
        if done.returncode != 0:
            sys.exit(done.returncode)


if __name__ == "__main__":
    main()
