"""The one run order every runner follows: plan; stop if this run key is already published; continue
a stopped version; calibrate the judge (the gate); rounds of shards until the target; publish.
Runners differ only in how they dispatch shards and publish: here, one shard after another in this
process (`run_in_process`: tests, notebooks); as Prefect tasks on the configured task runner, local
threads or Ray (flows/pipeline.py: shards_flow). No Prefect here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from flows.run.core import PipelineRun, ShardOut
from flows.run.finish import continued, count_passing, publish_run, published_refs
from flows.run.judge_gate import GateResult
from flows.run.plan import Plan
from flows.run.rounds import run_rounds
from flows.store import DatasetStore, Version
from generators.engines.spend import metered_run

Shards = Callable[[PipelineRun, Plan], tuple[list[ShardOut], list[ShardOut]]]


def _nothing(*_: object) -> None:
    return None


@dataclass(frozen=True)
class Dispatch:
    """How a runner runs shards (every task's output, and each shard's last), counts the rows that
    pass, and publishes; what it shows (phase) and logs on the way."""

    shards: Shards
    count: Callable[[PipelineRun, Plan, list[ShardOut]], dict[str, int]] = count_passing
    publish: Callable[[PipelineRun, Plan, list[ShardOut], str], list[Version]] = publish_run
    before_shards: Callable[[PipelineRun], None] = _nothing
    phase: Callable[[str], None] = _nothing
    log: Callable[[str], None] = _nothing


@dataclass(frozen=True)
class Ran:
    run: PipelineRun  # as it ran: continued, gated, with its rounds
    versions: list[Version]
    already_published: bool = False
    task_outs: list[ShardOut] = field(default_factory=list)
    gate: GateResult | None = None
    rounds: str | None = None  # the one-line account of target_rows' rounds
    publish_seconds: float = 0.0


def run_pipeline(run: PipelineRun, dispatch: Dispatch) -> Ran:
    plan = run.plan()
    run_key = run.run_key(plan)
    if (done := published_refs(run, run_key)) is not None:
        dispatch.log(f"this run (key {run_key[:12]}) is already published: {', '.join(done)}")
        store = DatasetStore(run.root)
        return Ran(run, [store.get(ref) for ref in done], already_published=True)
    run = continued(run, run_key)
    dispatch.phase("calibrating the judge" if run.needs_judge_gate() else "")
    run, gate = run.gated()  # before any generation: a judge that cannot filter stops the run here
    dispatch.phase("")
    if gate is not None:
        dispatch.log(gate.note())
    dispatch.before_shards(run)
    task_outs, outs, plan, rounds = run_rounds(run, plan, dispatch.shards, dispatch.count)
    if rounds is not None:
        run = replace(run, rounds=rounds.entry())
        dispatch.log(rounds.line())
    dispatch.phase("merge, dedup, decontaminate, publish")
    started = time.perf_counter()
    versions = dispatch.publish(run, plan, outs, run_key)
    line = rounds.line() if rounds is not None else None
    return Ran(run, versions, False, task_outs, gate, line, time.perf_counter() - started)


def run_in_process(run: PipelineRun) -> list[Version]:
    """The whole run in this process, shard after shard, without Prefect (tests, notebooks): the same
    order as `synthloom run`, no task runner, no overlap. Resumes and publishes once the same way."""
    with metered_run(run.cfg.budget):
        return run_pipeline(run, Dispatch(shards=_one_after_another)).versions


def _one_after_another(run: PipelineRun, plan: Plan) -> tuple[list[ShardOut], list[ShardOut]]:
    finals = [run.shard(shard) for shard in plan.shards]
    return finals, finals  # no per-task summary here: the shards' last outs serve both
