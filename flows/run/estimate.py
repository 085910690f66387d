"""`synthloom run --estimate`: what a run will cost, measured on a pilot before it is paid for.

The pilot is the first shard(s) of every source, run through every shard stage exactly as the real
run would (same keys: the checkpoints are reused by it, nothing is spent twice), then through the
finish's gates (merge, dedup against earlier versions, decontamination) without publishing. From it:
each source's yield (rows that pass every gate per source row attempted), prompt and completion
tokens per kept row by stage, seconds per kept row on this engine; and the projection for the whole
run (or for `target_rows`): attempts, tokens, wall time, and USD where the engines have `prices`.
Pure: no Prefect (the pilot's shards run side by side in threads, so they share engine batches)."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flows.run.core import PipelineRun, ShardOut
from flows.run.finish import continued, count_passing, published_refs
from flows.run.ledger import stage_prices
from flows.run.plan import Plan, Shard
from flows.run.rounds import MIN_YIELD, max_attempts
from generators.engines.spend import metered_run


@dataclass
class Measured:
    """One source's pilot: attempts, passing rows, and tokens by stage (over its shards' whole chain)."""

    name: str
    attempts: int = 0
    passing: int = 0
    planned: int = 0  # source rows the real run's first round attempts
    tokens: dict[str, list[int]] = field(default_factory=dict)  # stage -> [prompt, completion]

    def per_attempt(self) -> tuple[float, float]:
        n = max(self.attempts, 1)
        return sum(t[0] for t in self.tokens.values()) / n, sum(t[1] for t in self.tokens.values()) / n


def pilot_plan(plan: Plan, shards_per_source: int) -> Plan:
    """The first `shards_per_source` shards of each source, in plan order."""
    taken: dict[int, int] = {}
    shards = []
    for s in plan.shards:
        if taken.get(s.source_index, 0) < shards_per_source:
            taken[s.source_index] = taken.get(s.source_index, 0) + 1
            shards.append(s)
    return Plan(shards, plan.reads, plan.inputs)


def _run_shard(run: PipelineRun, shard: Shard) -> ShardOut:
    out = run.generate(shard)
    for stage in run.shard_stages():
        out = run.step(stage.name, out)
    return out


def measure(run: PipelineRun, plan: Plan, pilot: Plan) -> tuple[list[Measured], float]:
    """Run the pilot's shards (checkpointed) and measure each source; returns them and the wall seconds."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, len(pilot.shards))) as pool:
        outs = list(pool.map(lambda s: _run_shard(run, s), pilot.shards))
    seconds = time.perf_counter() - started
    found = []
    for i, src in enumerate(run.cfg.sources):
        mine = [o for s, o in zip(pilot.shards, outs, strict=True) if s.source_index == i]
        planned = sum(s.rows().num_rows for s in plan.shards if s.source_index == i)
        m = Measured(src.name, run.attempts(mine), planned=planned)
        subset = Plan([s for s in pilot.shards if s.source_index == i])
        m.passing = sum(count_passing(run, subset, mine).values()) if mine else 0
        for out in mine:
            for ck in run.chain(out):
                t = m.tokens.setdefault(ck.stats.name, [0, 0])
                t[0], t[1] = t[0] + ck.stats.prompt_tokens, t[1] + ck.stats.completion_tokens
        found.append(m)
    return found, seconds


def projection(run: PipelineRun, measured: list[Measured], seconds: float) -> dict[str, Any]:
    """The whole run (or target_rows) from the pilot: attempts, tokens, seconds, USD."""
    attempts = sum(m.attempts for m in measured)
    passing = sum(m.passing for m in measured)
    round0 = sum(m.planned for m in measured)
    target = run.target_left()
    if target is None:
        planned = round0
    else:
        needed = math.ceil(target / max(passing / max(attempts, 1), MIN_YIELD))
        planned = min(max(round0, needed), max_attempts(run.cfg))
    scale = planned / max(attempts, 1)
    prompt = sum(m.per_attempt()[0] * (m.planned if target is None else m.attempts * scale) for m in measured)
    completion = sum(m.per_attempt()[1] * (m.planned if target is None else m.attempts * scale) for m in measured)
    usd = _usd(run, measured, scale if target is not None else None)
    rows = passing * scale if target is None else min(target, passing * scale)
    return {
        "target_rows": target,
        "attempts": planned,
        "rows": round(rows),
        "prompt_tokens": round(prompt),
        "completion_tokens": round(completion),
        "seconds": round(seconds * scale, 1),
        "usd": usd,
    }


def _usd(run: PipelineRun, measured: list[Measured], scale: float | None) -> float | None:
    prices = stage_prices(run)
    total = 0.0
    for m in measured:
        factor = m.planned / max(m.attempts, 1) if scale is None else scale
        for stage, (p, c) in m.tokens.items():
            if not (p or c):
                continue
            if prices.get(stage) is None:
                return None
            total += prices[stage].usd(p, c) * factor  # type: ignore[union-attr]
    return round(total, 6)


def estimate(run: PipelineRun, shards_per_source: int = 1) -> dict[str, Any]:
    """Pilot, measure, project. Raises nothing new: a config error has stopped the run before."""
    plan = run.plan()
    run_key = run.run_key(plan)
    if (done := published_refs(run, run_key)) is not None:
        return {"already_published": done}
    run, _ = run.gated()
    run = continued(run, run_key)
    pilot = pilot_plan(plan, shards_per_source)
    with metered_run(None):  # the pilot is not capped: it is what tells what a cap buys
        measured, seconds = measure(run, plan, pilot)
    kept = sum(m.passing for m in measured)
    attempts = sum(m.attempts for m in measured)
    return {
        "pilot": {"shards": len(pilot.shards), "attempts": attempts, "seconds": round(seconds, 1)},
        "sources": [_source_entry(m, seconds, kept) for m in measured],
        "projection": projection(run, measured, seconds),
    }


def _source_entry(m: Measured, seconds: float, kept: int) -> dict[str, Any]:
    per_row = max(m.passing, 1)
    return {
        "source": m.name,
        "attempts": m.attempts,
        "passing": m.passing,
        "yield": round(m.passing / max(m.attempts, 1), 4),
        "per_kept_row": {stage: [round(p / per_row, 1), round(c / per_row, 1)] for stage, (p, c) in m.tokens.items()},
        "seconds_per_kept_row": round(seconds / max(kept, 1), 2),
    }
