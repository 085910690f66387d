"""The ledger a version's manifest carries: what its rows cost in tokens (and dollars, where the
engines have `prices`), per stage and per kept row, and what this run itself spent (checkpointed
work read back costs nothing again) against its budget. The card and the catalog's `versions` view
show it: `SELECT name, version, cost_usd, rows FROM versions` answers "what did it cost"."""

from __future__ import annotations

from typing import Any

from flows.run.core import PipelineRun
from generators.engines.spend import METER
from schemas.config import Prices
from schemas.manifest import StageStats


def stage_prices(run: PipelineRun) -> dict[str, Prices | None]:
    """Each model stage's prices: a source bills the pipeline's engine, a shard stage its own."""
    out: dict[str, Prices | None] = {s.name: run.cfg.engine.prices for s in run.cfg.sources}
    out.update({s.name: s.engine.prices for s in run.shard_stages() if s.engine is not None})
    return out


def _per_row(value: float | int | None, rows: int, digits: int) -> float | None:
    return None if value is None or rows == 0 else round(value / rows, digits)


def run_ledger(run: PipelineRun, stages: list[StageStats], kept: int) -> dict[str, Any]:
    """Tokens and cost of the stages that made this version's rows, in all and per kept row."""
    prices = stage_prices(run)
    per_stage: dict[str, dict[str, Any]] = {}
    unpriced = False
    for s in stages:
        if not (s.prompt_tokens or s.completion_tokens):
            continue
        p = prices.get(s.name)
        usd = p.usd(s.prompt_tokens, s.completion_tokens) if p is not None else None
        unpriced = unpriced or usd is None
        per_stage[s.name] = {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens, "usd": usd}
    prompt = sum(v["prompt_tokens"] for v in per_stage.values())
    completion = sum(v["completion_tokens"] for v in per_stage.values())
    cost = None if unpriced else round(sum(v["usd"] or 0.0 for v in per_stage.values()), 6)
    budget = run.cfg.budget
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": cost,
        "per_kept_row": {
            "prompt_tokens": _per_row(prompt, kept, 1),
            "completion_tokens": _per_row(completion, kept, 1),
            "cost_usd": _per_row(cost, kept, 8),
        },
        "stages": per_stage,
        "this_run": METER.entry(),  # new engine work only: what a budget caps
        "budget": budget.model_dump(mode="json") if budget is not None else None,
        "stop_detail": METER.detail or None,
    }
