"""End-to-end `synthloom run` on the embedded model: wall time split by stage, and the share of it
spent outside the LLM stages (generation + judge tasks). Optionally kills the run with SIGKILL after
K generation shards and reruns it, to report what resume saved.

    .venv/bin/python bench/pipeline.py --n 200 --shard-size 25
    .venv/bin/python bench/pipeline.py --n 64 --shard-size 16 --kill-after 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """dataset: bench
shard_size: {shard_size}
sources:
  - kind: magpie
    magpie: {{n: {n}, response: {{temperature: 0.0, max_tokens: 256}}}}
judge: {{calibration: {{on_fail: keep_unfiltered}}}}  # the 135M judge fails calibration: scores kept, not filtered
"""


def synthloom(work: Path, log: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("synthloom")
    args = [str(exe), "run", str(work / "p.yaml"), "--data-dir", str(work / "data")]
    args += ["--summary-json", str(work / f"{log}.json")]
    out = open(work / f"{log}.log", "w")  # noqa: SIM115 - lives as long as the process
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=ROOT)


def shards_done(work: Path) -> int:
    return len(list((work / "data" / "datasets" / ".cache" / "bench" / "magpie").glob("*/stats.json")))


def run_once(work: Path, log: str, kill_after: int | None = None) -> float:
    started = time.perf_counter()
    proc = synthloom(work, log)
    while kill_after is not None and proc.poll() is None and shards_done(work) < kill_after:
        time.sleep(0.2)
    if kill_after is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    code = proc.wait()
    if kill_after is None and code != 0:
        sys.exit(f"synthloom run failed ({code}); see {work / (log + '.log')}")
    return time.perf_counter() - started


def report(args: argparse.Namespace, work: Path, walls: dict[str, float]) -> str:
    s = json.loads((work / "final.json").read_text())
    m = json.loads(next((work / "data" / "datasets" / "bench").glob("v*/manifest.json")).read_text())
    lines = [
        f"# `synthloom run`: {args.n} Magpie conversations, shard_size {args.shard_size}, judge on",
        "",
        f"Command: `.venv/bin/python bench/pipeline.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, vLLM CPU, SmolLM2-135M",
        "",
        "| stage (this run) | tasks run | from checkpoints | wall s |",
        "|---|---|---|---|",
    ]
    for name, st in s["stages"].items():
        lines.append(f"| {name} | {st['run']} | {st['cached']} | {st['seconds']:.1f} |")
    lines += [
        f"| merge + dedup + decontaminate + publish (+ card) | 1 | 0 | {s['publish_seconds']:.1f} |",
        "",
        f"- flow wall: {s['wall_seconds']:.1f} s; LLM stages (generate + judge tasks, incl. engine load): "
        f"{s['llm_seconds']:.1f} s; **outside the LLM: {s['outside_llm_share']:.1%}** (target <= 5 %)",
        "- process wall: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in walls.items())
        + " (adds Python/Prefect start-up, the temporary Prefect server, engine shutdown)",
        f"- published: {m['rows']} rows, {m['rejects']} rejects; "
        + "; ".join(f"{st['name']} {st['rows_in']}->{st['rows_out']}" for st in m["stages"]),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--shard-size", type=int, default=25)
    ap.add_argument("--kill-after", type=int, default=None, help="SIGKILL after this many generation shards, rerun")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.md")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="synthloom-bench-"))
    (work / "p.yaml").write_text(CONFIG.format(n=args.n, shard_size=args.shard_size))
    walls = {}
    if args.kill_after:
        walls["killed run"] = run_once(work, "killed", args.kill_after)
        print(f"killed with {shards_done(work)} generation shard(s) checkpointed")
    walls["final run"] = run_once(work, "final")
    text = report(args, work, walls)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
