"""Six Magpie shards at once over HTTP against vLLM's own OpenAI-compatible server, ten fresh
`synthloom run` processes in a row (each a new process: the tokenizer race of issue 19 was at first
touch in a fresh process). Prints pass/fail per run, wall time, and the engines each run built.
Rerun: .venv/bin/python bench/served_shards.py [--runs 10]"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generators.engines.models import embedded_model_dir
from tests.vllm_server import SERVED, VllmServer

PIPELINE = """dataset: six
shard_size: 2
engine: {{backend: openai, model: {served}, openai: {{base_url: '{url}', tokenizer: embedded, max_concurrency: 16}}}}
heuristics: null
sources:
  - kind: magpie
    magpie: {{n: 12, instruction: {{max_tokens: 64}}, response: {{temperature: 0.0, max_tokens: 64}}}}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    runs = ap.parse_args().runs
    synthloom = Path(sys.executable).with_name("synthloom")
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        server = VllmServer(embedded_model_dir(), Path(tmp) / "server.log").start()
        try:
            passed = 0
            for i in range(runs):
                work = Path(tmp) / f"run{i}"
                work.mkdir()
                (work / "p.yaml").write_text(PIPELINE.format(served=SERVED, url=server.url))
                started = time.perf_counter()
                args = [str(synthloom), "run", str(work / "p.yaml"), "--data-dir", str(work / "data")]
                done = subprocess.run([*args, "--summary-json", str(work / "s.json")], capture_output=True, text=True)
                took = time.perf_counter() - started
                ok = done.returncode == 0 and "Traceback" not in done.stderr
                passed += ok
                built = json.loads((work / "s.json").read_text())["engines_built"] if ok else done.stderr[-300:]
                print(f"run {i + 1}: {'ok' if ok else 'FAILED'} in {took:.0f}s; engines built: {built}", flush=True)
            print(f"{passed}/{runs} six-shard runs passed")
        finally:
            server.kill()


if __name__ == "__main__":
    main()
