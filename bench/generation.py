"""A generation stage vs raw `vllm.LLM.generate` on the same prompts, same model, one process.

The stage (Magpie, or text-to-instructions over the demo corpus) runs first through a recording
wrapper, which keeps every batch it sends to the engine (rendered prompts, sampling, JSON schema).
The raw side then replays exactly those batches with `llm.generate` (structured outputs included).
Runs alternate (raw, ours, raw, ours...) so neither side gets a warmer cache.

    .venv/bin/python bench/generation.py --stage magpie --n 32 --repeats 2
    .venv/bin/python bench/generation.py --stage from-text --docs 3 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


class Recorder:
    """Wraps an engine; records each batch as (rendered prompts, sampling configs)."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.model_id = engine.model_id
        self.tokenizer = engine.tokenizer
        self.batches: list[tuple[list[str], list[Any], Any]] = []

    def complete(self, prompts, params):
        self.batches.append((list(prompts), list(params), None))
        return self.engine.complete(prompts, params)

    def chat(self, conversations, params, json_schema=None):
        rendered = [self.engine.render_chat(c, True) for c in conversations]
        self.batches.append((rendered, list(params), json_schema))
        return self.engine.chat(conversations, params, json_schema)

    def render_chat(self, messages, add_generation_prompt):
        return self.engine.render_chat(messages, add_generation_prompt)

    def special_tokens(self):
        return self.engine.special_tokens()


def run_raw(engine: Any, batches: list[tuple[list[str], list[Any], Any]]) -> tuple[float, int]:
    started, tokens = time.perf_counter(), 0
    for prompts, params, schema in batches:
        token_prompts = [{"prompt_token_ids": engine._encode_raw(p)} for p in prompts]
        outs = engine.llm.generate(token_prompts, [engine._params(p, schema) for p in params], use_tqdm=False)
        tokens += sum(len(o.outputs[0].token_ids) for o in outs)
    return time.perf_counter() - started, tokens


def run_ours(stage: Any, engine: Any) -> tuple[float, int, Any]:
    started = time.perf_counter()
    stats = stage(engine)
    return time.perf_counter() - started, stats.completion_tokens, stats


def make_stage(args: argparse.Namespace) -> Any:
    """A callable engine -> StageStats for the chosen stage."""
    from schemas.config import MagpieConfig, SamplingConfig

    if args.stage == "magpie":
        from generators.magpie import Magpie

        magpie = Magpie(
            config=MagpieConfig(n=args.n, response=SamplingConfig(temperature=0.0, max_tokens=args.response_max_tokens))
        )
        return lambda engine: magpie(engine, "bench").stats
    from generators.text_to_instructions import TextToInstructions
    from readers.documents import read_documents

    corpus = Path(__file__).resolve().parents[1] / "data" / "seeds" / "corpus"
    docs, _ = read_documents(sorted(str(p) for p in corpus.glob("*.md"))[: args.docs])
    t2i = TextToInstructions()
    return lambda engine: t2i(docs, engine, "bench").sft.stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=("magpie", "from-text"), default="magpie")
    ap.add_argument("--n", type=int, default=32, help="Magpie conversations per run")
    ap.add_argument("--docs", type=int, default=3, help="demo-corpus documents for --stage from-text")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--response-max-tokens", type=int, default=256)
    args = ap.parse_args()

    from generators.engines import make_engine
    from schemas.config import EngineConfig

    t0 = time.perf_counter()
    engine = make_engine(EngineConfig(show_progress=False))
    load_s = time.perf_counter() - t0
    stage = make_stage(args)
    recorder = Recorder(engine)
    stage(recorder)  # warm-up; also records the exact batches the stage sends
    raw_runs, our_runs = [], []
    for _ in range(args.repeats):
        raw_runs.append(run_raw(engine, recorder.batches))
        secs, toks, stats = run_ours(stage, engine)
        our_runs.append((secs, toks))
    raw_tps = [t / s for s, t in raw_runs]
    our_tps = [t / s for s, t in our_runs]
    print(f"stage: {args.stage}; model: {engine.model_id}; engine load {load_s:.1f}s; repeats={args.repeats}")
    print(f"batches per run: {len(recorder.batches)}; kept {stats.rows_out}/{stats.rows_in}")
    for i, ((rs, rt), (os_, ot)) in enumerate(zip(raw_runs, our_runs, strict=True)):
        print(
            f"  run {i + 1}: raw {rt} tok in {rs:.2f}s = {rt / rs:.1f} tok/s | ours {ot} tok in {os_:.2f}s = "
            f"{ot / os_:.1f} tok/s"
        )
    raw_best, our_best = max(raw_tps), max(our_tps)
    print(f"raw vllm.LLM.generate: {raw_best:.1f} tok/s (best of {args.repeats})")
    print(f"synthloom {args.stage} stage: {our_best:.1f} tok/s (best of {args.repeats})")
    print(f"ratio (ours / raw): {our_best / raw_best:.3f}")


if __name__ == "__main__":
    main()
