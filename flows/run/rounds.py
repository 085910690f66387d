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


POOL = "*"  # the goal of the pipeline's own target_rows: every source's rows count toward it


@dataclass(frozen=True)
class RoundsReport:
    target: int
    rounds: int
    attempts: int
    passing: int  # rows that passed every gate, before trimming to the target
    max_attempts: int
    stopped: str | None = None  # 'budget' / 'interrupted': rounds cut short by a stop
    by_source: dict[str, dict[str, int]] | None = None  # per-source targets: {source: {target, passing, attempts}}

    @property
    def reached(self) -> bool:
        if self.by_source is not None:
            return all(s["passing"] >= s["target"] for s in self.by_source.values())
        return self.passing >= self.target

    def entry(self) -> dict[str, object]:
        return {**self.__dict__, "reached": self.reached, "yield": round(self.passing / max(self.attempts, 1), 4)}

    def _what(self) -> str:
        if self.by_source is None:
            return f"target_rows={self.target}"
        return "target_rows " + ", ".join(f"{n}={s['passing']}/{s['target']}" for n, s in self.by_source.items())

    def line(self) -> str:
        y = self.passing / max(self.attempts, 1)
        if self.stopped and not self.reached:
            return (
                f"{self._what()}: stopped ({self.stopped}) with {self.passing} rows passed in "
                f"{self.attempts} attempts over {self.rounds} round(s) (yield {y:.1%})"
            )
        if self.reached:
            return f"{self._what()}: reached in {self.rounds} round(s), {self.attempts} attempts ({y:.0%})"
        return (
            f"{self._what()} not reached: {self.passing} rows passed in {self.attempts} attempts "
            f"(yield {y:.1%}, max_attempts={self.max_attempts}); published what passed. Raise max_attempts, "
            "or relax the gates that reject most (see the rejects by reason)"
        )


def max_attempts(cfg: PipelineConfig, target: int | None = None) -> int:
    """Source rows a goal may attempt: `max_attempts`, else 20 x its target (the pipeline's by default)."""
    return cfg.max_attempts or 20 * (cfg.target_rows or 0 if target is None else target)


def goals(run: Any) -> dict[str, int] | None:
    """Rows still wanted: {POOL: n} for the pipeline's target_rows, else {source: n} for each source
    with its own; less what stopped runs of this config published already. None: no target."""
    if run.cfg.target_rows is not None:
        return {POOL: run.target_left()}
    own = {s.name: s.target_rows for s in run.cfg.sources if getattr(s, "target_rows", None)}
    if not own:
        return None
    return {n: max(0, t - run.published_by_source.get(n, 0)) for n, t in own.items()}


def of_goal(counts: dict[str, int], goal: str) -> int:
    return sum(counts.values()) if goal == POOL else counts.get(goal, 0)


def round_tag(tag: str, r: int) -> str:
    return tag if r == 0 else f"{tag}#round{r}"


def next_attempts(
    cfg: PipelineConfig, passing: int, attempts: int, target: int | None = None, cap: int | None = None
) -> int:
    """Source rows the next round should attempt (0: stop): enough for the rows still missing at the
    yield measured so far, plus a margin, within what max_attempts (`cap`) leaves. `target`: the rows
    still wanted (default target_rows; less when a stopped run of this config published some already)."""
    target = cfg.target_rows or 0 if target is None else target
    left = (max_attempts(cfg) if cap is None else cap) - attempts
    if passing >= target or left <= 0:
        return 0
    rate = max(passing / max(attempts, 1), MIN_YIELD)
    return min(left, max(1, math.ceil((target - passing) / rate * MARGIN)))


def _scaled_source(s: Any, factor: float) -> Any:
    if s.kind != "magpie":
        return s  # the same size again, with new seeds from the round's tag
    return s.model_copy(update={"magpie": s.magpie.model_copy(update={"n": max(1, math.ceil(s.magpie.n * factor))})})


def scaled(cfg: PipelineConfig, want: int, round0_attempts: int) -> PipelineConfig:
    """The round's config: every Magpie source's `n` scaled so the round attempts about `want` source
    rows in all (the others keep their size and get new seeds from the round's tag)."""
    factor = want / max(round0_attempts, 1)
    return cfg.model_copy(update={"sources": tuple(_scaled_source(s, factor) for s in cfg.sources)})


def round_config(cfg: PipelineConfig, wants: dict[str, int], first: dict[str, int]) -> PipelineConfig | None:
    """The next round's config for these wants (attempts per goal), or None when no goal wants more.
    Per-source goals: only the sources still short, each scaled to its own want."""
    if POOL in wants:
        return scaled(cfg, wants[POOL], sum(first.values())) if wants[POOL] else None
    short = [_scaled_source(s, wants[s.name] / max(first.get(s.name, 0), 1)) for s in cfg.sources if wants.get(s.name)]
    return cfg.model_copy(update={"sources": tuple(short)}) if short else None


Execute = Callable[[Any, Any], tuple[list[Any], list[Any]]]  # (run, plan) -> (every task out, shard finals)
Count = Callable[[Any, Any, list[Any]], dict[str, int]]  # (run, plan, finals) -> passing rows per source


def run_rounds(run: Any, plan: Any, execute: Execute, count: Count) -> tuple:
    """`execute` the shards of `plan`; with a target (the pipeline's or per source), then more rounds
    until enough rows pass (`count`: rows the finish would publish, per source) or attempts run out.
    The one round loop of every runner (Prefect tasks, in-process). Returns (every task out, every
    shard's last out, the plan of all rounds, RoundsReport or None)."""
    from flows.run.plan import combined

    task_outs, outs = execute(run, plan)
    wanted = goals(run)
    if wanted is None:
        return task_outs, outs, plan, None
    plans, first = [plan], run.attempts_by_source(outs)
    attempts, r = dict(first), 0
    while True:
        passing = count(run, combined(plans), outs)
        wants = {
            g: next_attempts(run.cfg, of_goal(passing, g), of_goal(attempts, g), t, max_attempts(run.cfg, t))
            for g, t in wanted.items()
        }
        cfg = round_config(run.cfg, wants, first)
        if cfg is None or r + 1 >= MAX_ROUNDS or any(o.stopped for o in outs) or METER.reason is not None:
            break
        r += 1
        log.info("round %d: %s rows pass of %s attempts; planning %s more", r + 1, passing, attempts, wants)
        round_run = run.for_round(r, cfg)
        round_plan = round_run.plan()
        more, finals = execute(round_run, round_plan)
        task_outs, outs, plans = task_outs + more, outs + finals, [*plans, round_plan]
        for name, n in round_run.attempts_by_source(finals).items():
            attempts[name] = attempts.get(name, 0) + n
    return task_outs, outs, combined(plans), _report(run, wanted, passing, attempts, r + 1, outs)


def _report(run: Any, wanted: dict, passing: dict, attempts: dict, rounds: int, outs: list) -> RoundsReport:
    cut = METER.reason if any(o.stopped for o in outs) or METER.reason is not None else None
    by_source = None
    if POOL not in wanted:
        by_source = {
            g: {"target": t, "passing": passing.get(g, 0), "attempts": attempts.get(g, 0)} for g, t in wanted.items()
        }
    total = sum(wanted.values())
    cap = max_attempts(run.cfg, total)
    return RoundsReport(total, rounds, sum(attempts.values()), sum(passing.values()), cap, cut, by_source)
