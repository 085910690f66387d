"""Ask for rows, not attempts: with `target_rows: N` a run works in rounds. Round 0 is the config as
written; after each round the finish's gates (merge, dedup against earlier versions, decontamination)
count how many rows would be published, the yield so far (passing rows per source row attempted)
says how many more attempts N needs, and the next round plans them with seeds of its own (the run
tag plus `#roundR`: the same config always plans the same rounds, and a killed run re-plans them
from its checkpoints). Magpie sources are scaled to the attempts needed; other sources repeat with
new seeds. Rounds stop at N passing rows or at `max_attempts` (default 20 x N). Pure: no Prefect."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flows.run.config import PipelineConfig
from generators.engines.spend import METER

log = logging.getLogger(__name__)

MARGIN = 1.2  # plan this much more than the measured yield says: the next round then rarely falls short
MIN_YIELD = 0.02  # below it, plan as if 2 %: a round that kept nothing still asks for a bounded number
MAX_ROUNDS = 12


@dataclass(frozen=True)
class RoundsReport:
    target: int
    rounds: int
    attempts: int
    passing: int  # rows that passed every gate, before trimming to the target
    max_attempts: int
    stopped: str | None = None  # 'budget' / 'interrupted': rounds cut short by a stop

    @property
    def reached(self) -> bool:
        return self.passing >= self.target

    def entry(self) -> dict[str, object]:
        return {**self.__dict__, "reached": self.reached, "yield": round(self.passing / max(self.attempts, 1), 4)}

    def line(self) -> str:
        y = self.passing / max(self.attempts, 1)
        if self.stopped and not self.reached:
            return (
                f"target_rows={self.target}: stopped ({self.stopped}) with {self.passing} rows passed in "
                f"{self.attempts} attempts over {self.rounds} round(s) (yield {y:.1%})"
            )
        if self.reached:
            return f"target_rows={self.target}: reached in {self.rounds} round(s), {self.attempts} attempts ({y:.0%})"
        return (
            f"target_rows={self.target} not reached: {self.passing} rows passed in {self.attempts} attempts "
            f"(yield {y:.1%}, max_attempts={self.max_attempts}); published what passed. Raise max_attempts, "
            "or relax the gates that reject most (see the rejects by reason)"
        )


def max_attempts(cfg: PipelineConfig) -> int:
    return cfg.max_attempts or 20 * (cfg.target_rows or 0)


def round_tag(tag: str, r: int) -> str:
    return tag if r == 0 else f"{tag}#round{r}"


def next_attempts(cfg: PipelineConfig, passing: int, attempts: int, target: int | None = None) -> int:
    """Source rows the next round should attempt (0: stop): enough for the rows still missing at the
    yield measured so far, plus a margin, within what max_attempts leaves. `target`: the rows still
    wanted (default target_rows; less when a stopped run of this config published some already)."""
    target = cfg.target_rows or 0 if target is None else target
    left = max_attempts(cfg) - attempts
    if passing >= target or left <= 0:
        return 0
    rate = max(passing / max(attempts, 1), MIN_YIELD)
    return min(left, max(1, math.ceil((target - passing) / rate * MARGIN)))


def scaled(cfg: PipelineConfig, want: int, round0_attempts: int) -> PipelineConfig:
    """The round's config: every Magpie source's `n` scaled so the round attempts about `want` source
    rows in all (the others keep their size and get new seeds from the round's tag)."""
    factor = want / max(round0_attempts, 1)
    sources = tuple(
        s.model_copy(update={"magpie": s.magpie.model_copy(update={"n": max(1, math.ceil(s.magpie.n * factor))})})
        if s.kind == "magpie"
        else s
        for s in cfg.sources
    )
    return cfg.model_copy(update={"sources": sources})


Execute = Callable[[Any, Any], tuple[list[Any], list[Any]]]  # (run, plan) -> (every task out, shard finals)


def run_rounds(run: Any, plan: Any, execute: Execute, count: Callable[[Any, Any, list[Any]], int]) -> tuple:
    """`execute` the shards of `plan`; with `target_rows`, then more rounds until enough rows pass
    (`count(run, plan, finals)`: rows the finish would publish) or attempts run out. The one round
    loop of every runner (Prefect tasks, in-process). Returns (every task out, every shard's last
    out, the plan of all rounds, RoundsReport or None)."""
    from flows.run.plan import combined

    task_outs, outs = execute(run, plan)
    target = run.target_left()
    if target is None:
        return task_outs, outs, plan, None
    plans, first = [plan], run.attempts(outs)
    attempts, r = first, 0
    while True:
        passing = count(run, combined(plans), outs)
        want = next_attempts(run.cfg, passing, attempts, target)
        if want == 0 or r + 1 >= MAX_ROUNDS or any(o.stopped for o in outs) or METER.reason is not None:
            break
        r += 1
        log.info("round %d: %d rows pass of %d attempts; planning %d more attempts", r + 1, passing, attempts, want)
        round_run = run.for_round(r, scaled(run.cfg, want, first))
        round_plan = round_run.plan()
        more, finals = execute(round_run, round_plan)
        task_outs, outs, plans = task_outs + more, outs + finals, [*plans, round_plan]
        attempts += round_run.attempts(finals)
    cut = METER.reason if any(o.stopped for o in outs) or METER.reason is not None else None
    report = RoundsReport(target, r + 1, attempts, passing, max_attempts(run.cfg), cut)
    return task_outs, outs, combined(plans), report
