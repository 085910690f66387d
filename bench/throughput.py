"""Engine saturation: the same Magpie workload through (a) raw vLLM, every prompt of a turn in one
`generate` call, (b) synthloom's run core with the default local runner (concurrent shard workers,
one batching dispatcher), (c) the previous behaviour (one shard at a time). Completion tok/s of each
and (b)/(a), measured side by side in one process on one loaded engine. Also raw vLLM tok/s at
several sequences in flight: the curve the dispatcher has to ride.

    .venv/bin/python bench/throughput.py [--n 256] [--shard-size 16] [--max-tokens 128] [--curve 8,32,128,512]

(b) and (c) run the same steps `synthloom run` runs (plan -> per shard generate -> checkpoint), in a
thread pool sized like the local task runner, without Prefect's start-up. Raw vLLM answers every
instruction; the run core drops bad instructions before responding, so compare rates, not totals.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


def _judge_config():
    from filters.judge import JudgeConfig
    from schemas.config import SamplingConfig

    return JudgeConfig(sampling=SamplingConfig(temperature=0.0, max_tokens=96))


def raw_magpie(engine, n: int, max_tokens: int, judge: bool = False) -> tuple[float, int]:
    """(seconds, completion tokens): instructions in one call, then every response in one call (then,
    with `judge`, every rubric verdict in one call)."""
    from generators.chat_template import pre_query_prefix
    from schemas.config import SamplingConfig

    prefix = pre_query_prefix(engine.render_chat)
    stop = ["<|im_end|>"]
    ins = [SamplingConfig(temperature=1.0, max_tokens=max_tokens, seed=i, stop=stop) for i in range(n)]
    started = time.perf_counter()
    first = engine.run_prepared([engine.prepare("complete", prefix, sp) for sp in ins])
    resp = SamplingConfig(temperature=0.0, max_tokens=max_tokens)
    chats = [[{"role": "user", "content": c.text.strip() or "Hello"}] for c in first]
    second = engine.run_prepared([engine.prepare("chat", c, resp) for c in chats])
    tokens = sum(c.completion_tokens for c in first + second)
    if judge:
        from filters.judge import RubricJudge

        rows = [{"instruction": c[0]["content"], "response": r.text} for c, r in zip(chats, second, strict=True)]
        outs, _, _ = RubricJudge(config=JUDGE).judge_rows(rows, engine)
        tokens += sum(c.completion_tokens for c in outs)
    return time.perf_counter() - started, tokens


def run_core(
    engine, n: int, shard_size: int, max_tokens: int, workers: int | None, judge: bool = False
) -> tuple[float, int, int, str]:
    """(seconds, completion tokens, shard workers, dispatcher line) through PipelineRun's steps: per
    shard the Magpie step, then (with `judge`) the judge step, each shard in a worker thread."""
    from flows.run.config import PipelineConfig
    from flows.run.core import PipelineRun
    from flows.runners import shard_workers
    from generators.engines.batching import BatchingEngine
    from schemas.config import parse_config

    sampling = {"temperature": 1.0, "max_tokens": max_tokens}
    data = {
        "dataset": "bench",
        "shard_size": shard_size,
        "sources": [
            {
                "kind": "magpie",
                "magpie": {"n": n, "instruction": sampling, "response": {"temperature": 0.0, "max_tokens": max_tokens}},
            }
        ],
        "dedup": None,
        "heuristics": None,
        "judge": JUDGE.model_dump(mode="json") if judge else None,
    }
    cfg = parse_config(PipelineConfig, data, "bench")
    workers = workers or shard_workers(cfg)
    feeder = BatchingEngine(engine, cfg.engine.max_in_flight)
    with tempfile.TemporaryDirectory() as root:
        run = PipelineRun(cfg, Path(root), "", "bench", engine_factory=lambda c: feeder)
        plan = run.plan()
        started = time.perf_counter()

        def shard(s):
            out = run.generate(s)
            return [out, *([run.step("judge", out)] if judge else [])]

        with ThreadPoolExecutor(workers) as pool:
            outs = [o for steps in pool.map(shard, plan.shards) for o in steps]
        seconds = time.perf_counter() - started
        tokens = sum(run.checkpoint(o.stage, o.key).stats.completion_tokens for o in outs)
    return seconds, tokens, workers, feeder.stats.line()


def curve(engine, in_flight: int, max_tokens: int) -> float:
    """Raw vLLM tok/s with `in_flight` Magpie prompts per call (2 calls, or 1 when in_flight >= 256)."""
    from generators.chat_template import pre_query_prefix
    from schemas.config import SamplingConfig

    prefix = pre_query_prefix(engine.render_chat)
    calls = 1 if in_flight >= 256 else 2
    tokens, started = 0, time.perf_counter()
    for c in range(calls):
        sps = [
            SamplingConfig(temperature=1.0, max_tokens=max_tokens, seed=10_000 + c * in_flight + i, stop=["<|im_end|>"])
            for i in range(in_flight)
        ]
        tokens += sum(
            o.completion_tokens for o in engine.run_prepared([engine.prepare("complete", prefix, sp) for sp in sps])
        )
    return tokens / (time.perf_counter() - started)


JUDGE = None  # set in main: the judge config both paths use


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--shard-size", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--curve", default="8,32,128,512")
    args = ap.parse_args()

    from generators.engines.vllm_engine import shared_vllm_engine
    from schemas.config import EngineConfig, SamplingConfig

    engine = shared_vllm_engine(EngineConfig(show_progress=False))
    engine.run_prepared([engine.prepare("complete", "Hello", SamplingConfig(max_tokens=4))])  # warm-up
    print(
        f"# Engine saturation: {args.n} Magpie conversations, 1 turn, max_tokens {args.max_tokens}, "
        f"shard_size {args.shard_size}, {os.cpu_count()} cores\n"
    )
    global JUDGE
    JUDGE = _judge_config()
    print("| path | wall s | completion tokens | tok/s | vs raw |")
    print("|---|---|---|---|---|")
    for judge in (False, True):
        # raw first and last, so a drift in machine load shows and the ratio uses their mean
        a1 = raw_magpie(engine, args.n, args.max_tokens, judge)
        b_s, b_t, b_w, b_line = run_core(engine, args.n, args.shard_size, args.max_tokens, None, judge)
        c_s, c_t, _, c_line = run_core(engine, args.n, args.shard_size, args.max_tokens, 1, judge)
        a2 = raw_magpie(engine, args.n, args.max_tokens, judge)
        a = (a1[1] / a1[0] + a2[1] / a2[0]) / 2
        b, c = b_t / b_s, c_t / c_s
        tag = " + judge" if judge else ""
        for i, (a_s, a_t) in enumerate((a1, a2), 1):
            rate = a_t / a_s
            print(f"| (a{i}) raw vLLM{tag}, one generate per step | {a_s:.1f} | {a_t} | {rate:.0f} | {rate / a:.2f} |")
        print(f"| (b) run core{tag}, {b_w} shard workers + dispatcher | {b_s:.1f} | {b_t} | {b:.0f} | {b / a:.2f} |")
        print(f"| (c) one shard at a time{tag} (previous) | {c_s:.1f} | {c_t} | {c:.0f} | {c / a:.2f} |")
        print(f"|  ({tag or 'magpie'}: (b) {b_line}; (c) {c_line}) | | | | |")
    print()
    print("| sequences in flight | raw vLLM tok/s |\n|---|---|")
    for k in [int(x) for x in args.curve.split(",") if x]:
        print(f"| {k} | {curve(engine, k, min(args.max_tokens, 64)):.0f} |")
    print(
        f"\nrerun: .venv/bin/python bench/throughput.py --n {args.n} --shard-size {args.shard_size} "
        f"--max-tokens {args.max_tokens} --curve {args.curve}"
    )


if __name__ == "__main__":
    main()
