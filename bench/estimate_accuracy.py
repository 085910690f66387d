"""How well `synthloom run --estimate` predicts a run on the embedded model: for each config, in a
fresh data dir, the pilot (`--estimate`, first shard of each source), then the real run (which
reuses the pilot's checkpoints); prints projected vs actual completion / prompt tokens, rows and
seconds, and the ratio. The target is completion tokens within +-25 %.
Rerun: .venv/bin/python bench/estimate_accuracy.py [--only A|B]"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flows.store import DatasetStore  # noqa: E402

CONFIGS = {
    "A": """dataset: est_a   # Magpie alone: 4 shards, the pilot is 1
shard_size: 6
sources:
  - kind: magpie
    magpie: {n: 24, response: {temperature: 0.0, max_tokens: 256}}
""",
    "B": """dataset: est_b   # Magpie + persona tasks, judged: the pilot is 1 shard of each
shard_size: 4
sources:
  - kind: magpie
    magpie: {n: 16, response: {temperature: 0.0, max_tokens: 256}}
  - kind: persona_tasks
    limit: 8
    persona_tasks: {templates: [persona_user_prompt], response: {temperature: 0.7, max_tokens: 256}}
judge:
  sampling: {temperature: 0.0, max_tokens: 160}
  calibration: {on_fail: keep_unfiltered}
heuristics: {min_judge_score: 3}
""",
}


def synthloom(*args: str, cwd: Path) -> float:
    started = time.perf_counter()
    cmd = [str(Path(sys.executable).with_name("synthloom")), *args]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def one(name: str, text: str, tmp: Path) -> dict:
    (tmp / "p.yaml").write_text(text)
    data = tmp / "data"
    est_s = synthloom("run", "p.yaml", "--estimate", "--summary-json", "est.json", "--data-dir", str(data), cwd=tmp)
    run_s = synthloom("run", "p.yaml", "--summary-json", "run.json", "--data-dir", str(data), cwd=tmp)
    proj = json.loads((tmp / "est.json").read_text())["projection"]
    summary = json.loads((tmp / "run.json").read_text())
    version = DatasetStore(data / "datasets").get(summary["versions"][0])
    ledger = version.manifest().ledger
    return {
        "config": name,
        "pilot_s": round(est_s, 1),
        "run_s": round(run_s, 1),
        "completion": (proj["completion_tokens"], ledger["completion_tokens"]),
        "prompt": (proj["prompt_tokens"], ledger["prompt_tokens"]),
        "rows": (proj["rows"], version.manifest().rows),
        "seconds": (proj["seconds"], summary["wall_seconds"]),  # (overlapped, one at a time) vs the run's wall
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=sorted(CONFIGS))
    only = ap.parse_args().only
    print("| config | measure | projected | actual | projected / actual |")
    print("|---|---|---|---|---|")
    for name, text in CONFIGS.items():
        if only and name != only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            r = one(name, text, Path(tmp))
        for key in ("completion", "prompt", "rows"):
            p, a = r[key]
            print(f"| {name} | {key} | {p} | {a} | {p / a:.2f} |" if a else f"| {name} | {key} | {p} | {a} | - |")
        (fast, slow), wall = r["seconds"]
        print(f"| {name} | flow seconds | {fast}-{slow} | {wall} | {fast / wall:.2f}-{slow / wall:.2f} |")
        print(f"| {name} | wall: pilot {r['pilot_s']} s, then the run {r['run_s']} s (both with model load) | | | |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
