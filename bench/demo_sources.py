"""Kept rows per source of the demo pipeline's sources, one model load: each variant's sources run
once (no target) through the demo's judge, heuristics and dedup, in this process (flows/run/order.py:
run_in_process). How the demo's sampling was chosen (BENCHMARKS.md, "make demo").
Rerun: .venv/bin/python bench/demo_sources.py [--variants before,after]"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GREEDY = {"temperature": 0.0, "max_tokens": 384}
TEXT = {"kind": "from_text", "inputs": [str(REPO / "data/seeds/corpus/honeybees.md")]}
TEXT["text_to_instructions"] = {"pairs_per_chunk": 2, "chunk_tokens": 384}
VARIANTS = {
    "before": [
        {"kind": "magpie", "magpie": {"n": 16, "response": GREEDY}},
        {"kind": "persona_tasks", "limit": 4, "persona_tasks": {"templates": ["persona_user_prompt"]}},
        TEXT,
    ],
    "after": [
        {"kind": "magpie", "magpie": {"n": 16, "response": {**GREEDY, "repetition_penalty": 1.15}}},
        {
            "kind": "persona_tasks",
            "limit": 12,
            "persona_tasks": {
                "templates": ["persona_user_prompt"],
                "response": {"temperature": 0.7, "max_tokens": 256, "repetition_penalty": 1.1},
            },
        },
        TEXT,
    ],
}


def run_variant(name: str, sources: list[dict]) -> None:
    from flows.run.config import PipelineConfig
    from flows.run.core import PipelineRun
    from flows.run.order import run_in_process
    from schemas.config import parse_config

    cfg = yaml.safe_load((REPO / "data/pipelines/demo.yaml").read_text())
    for key in ("target_rows", "max_attempts"):
        cfg.pop(key, None)
    cfg |= {"dataset": f"demo_{name}", "sources": copy.deepcopy(sources)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        run = PipelineRun(parse_config(PipelineConfig, cfg, name), Path(root), "", name)
        version = run_in_process(run)[0]
        kept = Counter(version.read().column("source_kind").to_pylist())
        rejects = version.read("rejects").to_pylist()
    tried = Counter(r["source_kind"] for r in rejects) + kept
    per = ", ".join(f"{k} {kept[k]}/{tried[k]}" for k in sorted(tried))
    print(f"{name}: kept/attempts {per}; {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="before,after")
    for name in ap.parse_args().variants.split(","):
        run_variant(name, VARIANTS[name])


if __name__ == "__main__":
    main()
