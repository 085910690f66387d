"""Can `synthloom eval` see quality in the embedded model's own output? (issue 21; BENCHMARKS.md,
"What a version teaches").

1. `synthloom run bench/sensitivity.yaml`: Magpie on the embedded 135M model -> `sens@v1` (rows and
   rejects; resumes, or says it is already published).
2. Three training sets of the same size N, written as JSONL and imported as versions (import applies
   no gates, so the rejects stay rejects):
   - `sens_rows`: N kept rows;
   - `sens_rejects`: N rejects that have an answer (a later stage's reject keeps the row; a
     `response_*` reject of the generator keeps the cut-off answer in `raw_text`);
   - `sens_shuffled`: the N kept rows with answers moved across instructions (no row keeps its own).
   N = the smaller of the kept rows and the rejects with an answer; both samples are seeded.
3. `synthloom eval` on each with the same steps, seed and settings (the default eval: every metric;
   `--ref-only`: `ref_nll` and `ref_margin`, no generation), then `synthloom eval compare` of each
   control against the kept rows.

Rerun: .venv/bin/python bench/eval_sensitivity.py --data-dir /tmp/sens [--steps S] [--ref-only] [--cpu-threads N]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SYNTHLOOM = str(Path(sys.executable).with_name("synthloom"))
SETS = ("rows", "rejects", "shuffled")


def sh(*args: str, data_dir: Path) -> str:
    cmd = [SYNTHLOOM, *args, "--data-dir", str(data_dir)]
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    print(done.stdout[-4000:], f"[{time.perf_counter() - started:.0f}s]", flush=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {done.stderr[-3000:]}")
    return done.stdout


def pair(record: dict, reason: str, raw: str | None) -> tuple[str, str] | None:
    """(instruction, answer) of a reject, or None when it has no answer."""
    users = [m["content"] for m in record.get("messages") or [] if m.get("role") == "user"]
    instruction = record.get("instruction") or (users[-1] if users else None)
    answer = record.get("response") or (raw if reason.startswith("response_") else None)
    return (instruction, answer) if instruction and answer and answer.strip() else None


def training_sets(version_dir: Path, seed: int = 0) -> dict[str, list[dict]]:
    rows = pq.read_table(version_dir / "rows").select(["instruction", "response"]).to_pylist()
    rejects = pq.read_table(version_dir / "rejects").to_pylist()
    answered = [p for r in rejects if (p := pair(json.loads(r["record"]), r["reason"], r["raw_text"]))]
    n = min(len(rows), len(answered))
    rng = random.Random(seed)
    kept = [(r["instruction"], r["response"]) for r in rng.sample(rows, n)]
    bad = rng.sample(answered, n)
    answers = [a for _, a in kept]
    shuffled = list(zip([q for q, _ in kept], answers[1:] + answers[:1], strict=True))  # a rotation: none keeps its own
    print(f"kept rows {len(rows)}, rejects {len(rejects)} ({len(answered)} with an answer): N = {n}")
    by_reason: dict[str, int] = {}
    for r in rejects:
        if pair(json.loads(r["record"]), r["reason"], r["raw_text"]):
            key = f"{r['stage']}/{r['reason']}"
            by_reason[key] = by_reason.get(key, 0) + 1
    print("rejects with an answer by reason:", json.dumps(by_reason, sort_keys=True))
    as_rows = lambda pairs: [{"instruction": q, "response": a} for q, a in pairs]  # noqa: E731
    return {"rows": as_rows(kept), "rejects": as_rows(bad), "shuffled": as_rows(shuffled)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=None, help="default: 1 epoch of N rows at batch 4")
    ap.add_argument("--cpu-threads", type=int, default=None, help="torch threads (default: the eval's auto)")
    ap.add_argument("--ref-only", action="store_true", help="no generation: if_pass and clean_rate off")
    args = ap.parse_args()
    data = args.data_dir.resolve()
    sh("run", str(REPO / "bench" / "sensitivity.yaml"), data_dir=data)
    sets = training_sets(data / "datasets" / "sens" / "v1")
    n = len(sets["rows"])
    steps = args.steps or -(-n // 4)
    cfg = data / "eval_settings.json"
    settings = {"if_pass": not args.ref_only} | ({"cpu_threads": args.cpu_threads} if args.cpu_threads else {})
    cfg.write_text(json.dumps(settings))
    for name in SETS:
        path = data / f"sens_{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sets[name]), encoding="utf-8")
        sh("import", str(path), "--dataset", f"sens_{name}", data_dir=data)
    for name in SETS:
        sh("eval", f"sens_{name}@v1", "--steps", str(steps), "-c", str(cfg), data_dir=data)
    for control in ("rejects", "shuffled"):
        sh("eval", "compare", f"sens_{control}@v1", "sens_rows@v1", data_dir=data)
    sql = (
        "SELECT dataset, model, round(value, 4) AS value, round(ci_low, 4) AS lo, round(ci_high, 4) AS hi, "
        "seconds FROM evals WHERE value IS NOT NULL AND eval_id IN "
        "(SELECT arg_max(eval_id, created_at) FROM evals GROUP BY dataset) ORDER BY metric, dataset, model"
    )
    sh("query", sql, data_dir=data)


if __name__ == "__main__":
    main()
