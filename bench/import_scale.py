"""`synthloom import` of a 1M-row JSONL (1 % bad lines, 1 % repeats, an extra column) in a child
process: wall time, rows/s, and the child's peak RSS (target <= 1.5 GiB). Then a second import of the
same file ("already published": hashing only).
Rerun: .venv/bin/python bench/import_scale.py [--rows 1000000]"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYNTHLOOM = Path(sys.executable).with_name("synthloom")


def write_jsonl(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            if i % 100 == 7:
                fh.write('{"instruction": "cut off here\n')  # bad_json
                continue
            j = i - 1 if i % 100 == 13 else i  # a repeat of the line before
            rng = random.Random(j)
            words = " ".join(rng.choice(("alpha", "beta", "gamma", "delta", "kappa")) for _ in range(30))
            rec = {
                "instruction": f"Question {j}: explain {words[:60]}?",
                "response": f"Answer {j}: {words}",
                "src": j % 7,
            }
            fh.write(json.dumps(rec) + "\n")


def run(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([str(SYNTHLOOM), *args], capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return took, done.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    n = ap.parse_args().rows
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        src = Path(tmp) / "big.jsonl"
        write_jsonl(src, n)
        size = src.stat().st_size
        args = ["import", str(src), "--dataset", "big", "--data-dir", str(Path(tmp) / "data")]
        took, line = run(args)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB
        again, line2 = run(args)
    print(f"input: {n:,} records, {size / 2**20:.0f} MiB JSONL")
    print(f"import: {took:.1f} s ({n / took:,.0f} records/s), peak RSS {peak:,.0f} MiB; {line}")
    print(f"second import of the same file: {again:.1f} s; {line2}")


if __name__ == "__main__":
    main()
