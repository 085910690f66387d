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

from flows.run.core import PipelineRun
from flows.run.finish import continued, count_passing, published_refs
from flows.run.ledger import stage_prices
from flows.run.plan import Plan
from flows.run.rounds import MIN_YIELD, POOL, goals, max_attempts
from flows.sources import kind_of
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


def _warm(run: PipelineRun) -> None:
    """Load the generator's engine before the clock starts: a model load is not per-row time."""
    if any(kind_of(src).needs_engine for src in run.cfg.sources):
        run.engine_factory(run.cfg.engine)


def measure(run: PipelineRun, plan: Plan, pilot: Plan) -> tuple[list[Measured], float]:
    """Run the pilot's shards (checkpointed) and measure each source; returns them and the wall seconds."""
    _warm(run)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, len(pilot.shards))) as pool:
        outs = list(pool.map(run.shard, pilot.shards))
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


def _needed(target: int, passing: int, attempts: int) -> int:
    return math.ceil(target / max(passing / max(attempts, 1), MIN_YIELD))


def planned_attempts(run: PipelineRun, measured: list[Measured]) -> dict[str, int]:
    """Source rows the run will attempt, per source: round 0 as planned, and with a target (the
    pipeline's, or a source's own) as many as the pilot's yield says it needs, within max_attempts."""
    wanted = goals(run) or {}
    if POOL in wanted:
        attempts, passing = sum(m.attempts for m in measured), sum(m.passing for m in measured)
        total = min(
            max(sum(m.planned for m in measured), _needed(wanted[POOL], passing, attempts)), max_attempts(run.cfg)
        )
        return {m.name: round(m.attempts * total / max(attempts, 1)) for m in measured}
    out = {}
    for m in measured:
        t = wanted.get(m.name)
        need = m.planned if t is None else max(m.planned, _needed(t, m.passing, m.attempts))
        out[m.name] = need if t is None else min(need, max_attempts(run.cfg, t))
    return out


def projection(run: PipelineRun, measured: list[Measured], seconds: float) -> dict[str, Any]:
    """The whole run (or its targets) from the pilot: attempts, rows, tokens, wall time, USD. Wall time
    is a range: shards one at a time (the pilot's pace) down to as many overlapped as the engine's
    batches and the plan allow."""
    planned = planned_attempts(run, measured)
    factor = {m.name: planned[m.name] / max(m.attempts, 1) for m in measured}
    wanted = goals(run) or {}
    rows = 0.0
    for m in measured:
        made = m.passing * factor[m.name]
        rows += min(made, wanted[m.name]) if m.name in wanted else made
    if POOL in wanted:
        rows = min(rows, wanted[POOL])
    attempts, total = sum(m.attempts for m in measured), sum(planned.values())
    slow = seconds * total / max(attempts, 1)
    overlap = max(1.0, min(total / max(attempts, 1), run.cfg.engine.max_in_flight / max(attempts, 1)))
    return {
        "target_rows": wanted.get(POOL) if POOL in wanted else (dict(wanted) or None),
        "attempts": total,
        "rows": round(rows),
        "prompt_tokens": round(sum(m.per_attempt()[0] * planned[m.name] for m in measured)),
        "completion_tokens": round(sum(m.per_attempt()[1] * planned[m.name] for m in measured)),
        "seconds": [round(slow / overlap, 1), round(slow, 1)],
        "usd": _usd(run, measured, factor),
    }


def _usd(run: PipelineRun, measured: list[Measured], factor: dict[str, float]) -> float | None:
    prices = stage_prices(run)
    total = 0.0
    for m in measured:
        for stage, (p, c) in m.tokens.items():
            if not (p or c):
                continue
            if prices.get(stage) is None:
                return None
            total += prices[stage].usd(p, c) * factor[m.name]  # type: ignore[union-attr]
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
