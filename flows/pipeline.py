"""Prefect flows (the only modules that import Prefect are this one and flows/train.py, runners.py,
serving.py, schedules.py). `pipeline_flow` is the whole DAG of one pipeline config, and the only
way data is generated or transformed: `synthloom run` and every one-off command (flows/run/one_off.py)
run it. It follows the one run order (flows/run/order.py) with Prefect tasks as its dispatch: per
shard the source's task, then each shard stage's task (judge, heuristics, ...), then
merge/dedup/decontaminate/publish."""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import deployment, flow_run

from flows import progress
from flows.eval_config import EvalConfig
from flows.run.config import PipelineConfig
from flows.run.core import EngineFactory, PipelineRun, ShardOut, default_engine
from flows.run.finish import count_passing, publish_run, run_summary
from flows.run.order import Dispatch, run_pipeline
from flows.run.plan import Plan, Shard
from flows.runners import shard_task_options, task_runner_for
from flows.stopping import graceful_stop_here
from flows.store import DatasetStore, Version
from flows.store.locks import dataset_lock
from generators.engines import release_engine
from generators.engines.placement import Placement, placement_here
from generators.engines.spend import metered_run
from schemas.config import EngineConfig, parse_config
from schemas.errors import ConfigError

ENGINE_FACTORY_ENV = "SYNTHLOOM_ENGINE_FACTORY"


def current_run_id() -> str:
    return str(flow_run.get_id() or uuid.uuid4())


# -- the whole DAG from one YAML config (synthloom run / serve) -----------------------------------


@task(name="generate", cache_policy=NO_CACHE)
def generate_task(run: PipelineRun, shard: Shard) -> ShardOut:
    with _running(run.cfg.sources[shard.source_index].name):
        return _logged(run.generate(shard))


@task(name="stage", cache_policy=NO_CACHE)
def stage_task(run: PipelineRun, name: str, prev: ShardOut) -> ShardOut:
    """Shard stage `name` (judge, heuristics, ...: PipelineRun.shard_stages) on one shard."""
    with _running(name):
        return _logged(run.step(name, prev))


@task(name="merge-dedup-decontaminate-publish", cache_policy=NO_CACHE)
def publish_run_task(run: PipelineRun, plan: Plan, outs: list[ShardOut], run_key: str) -> list[Version]:
    return publish_run(run, plan, outs, run_key)


@task(name="eval", cache_policy=NO_CACHE)
def eval_task(root: Path, ref: str, cfg: EvalConfig) -> str:
    """The pipeline's `eval:` (flows/evals/runner.py) on the version just published: one summary line."""
    from flows.evals.runner import run_eval

    outcome = run_eval(root, ref, cfg, say=get_run_logger().info)
    deltas = [r for r in outcome.metrics.to_pylist() if r["model"] == "delta" and r["value"] is not None]
    cells = [f"{r['metric']} {r['value']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" for r in deltas]
    return f"eval {outcome.eval_id[:8]} of {ref} (tuned - base, 95% CI): " + ("; ".join(cells) or "no metric")


def evaluated(run: PipelineRun, ref: str) -> str | None:
    """Run the config's `eval:` on `ref` unless it has been evaluated already (a rerun after an eval
    that failed evaluates then). An eval that fails leaves the version published and says why."""
    if run.cfg.eval is None:
        return None
    from flows.store.evals import latest_eval

    stopped = DatasetStore(run.root).get(ref).manifest().stopped
    if stopped is not None:
        return f"eval: skipped, {ref} was stopped ({stopped}); the run that completes it is evaluated"
    if latest_eval(run.root, ref) is not None:
        return f"eval: {ref} was evaluated before (SELECT * FROM evals WHERE dataset = '{ref}')"
    progress.current().phase("eval: fine-tune and score")
    try:
        return eval_task(run.root, ref, run.cfg.eval)
    except Exception as err:  # published stays published; a rerun of the config tries the eval again
        get_run_logger().warning("eval of %s failed: %s: %s", ref, type(err).__name__, err)
        return f"eval of {ref} failed ({type(err).__name__}: {err}); run the same config again to retry it"


@contextlib.contextmanager
def _running(stage: str) -> Iterator[None]:
    """Counts this shard task as running in the progress display (in this process: the local runner)."""
    prog = progress.current()
    prog.started(stage)
    try:
        yield
    finally:
        prog.stopped(stage)


def _logged(out: ShardOut) -> ShardOut:
    state = "from checkpoint" if out.cached else f"done in {out.seconds:.1f}s"
    get_run_logger().info("%s %s: %s, %d rows kept", out.shard, out.stage, state, out.rows)
    return out


def scheduled_tag() -> str:
    """Runs of a deployment (`synthloom serve`) are told apart by their scheduled time; a retry
    of the same scheduled run keeps it, and so resumes."""
    if deployment.id is None:
        return ""
    when = flow_run.scheduled_start_time
    return when.isoformat() if when is not None else current_run_id()


Submitted = list[tuple[str, PrefectFuture]]  # (stage, future) in submission order


def _submit_generate(run: PipelineRun, plan: Plan) -> Submitted:
    prog, out = progress.current(), []
    for shard in plan.shards:
        stage = run.cfg.sources[shard.source_index].name
        prog.planned(stage)
        out.append((stage, generate_task.with_options(task_run_name=f"{shard.label} generate").submit(run, shard)))
    return out


def _submit_rest(run: PipelineRun, plan: Plan, gens: Submitted) -> tuple[Submitted, list[PrefectFuture]]:
    """Each shard's stage tasks (judge, heuristics, ...: whichever are configured) after its generate
    task; returns them all, and each shard's last one."""
    prog, every, finals = progress.current(), [], []
    names = [s.name for s in run.shard_stages()]
    for shard, (_, out) in zip(plan.shards, gens, strict=True):
        for name in names:
            prog.planned(name)
            out = stage_task.with_options(task_run_name=f"{shard.label} {name}").submit(run, name, out)
            every.append((name, out))
        finals.append(out)
    return every, finals


def _track(submitted: Submitted) -> None:
    """Wait for every task, counting each in the progress display as it finishes (on any runner)."""
    prog, stage_of = progress.current(), {id(f): stage for stage, f in submitted}
    for f in as_completed([f for _, f in submitted]):
        state = f.state
        out = f.result() if state.is_completed() else None
        prog.finished(out.stage if out is not None else stage_of[id(f)], cached=bool(out and out.cached))


def judge_placement(run: PipelineRun) -> Placement | None:
    """Shared / both loaded / sequential (generators/engines/placement.py); None without a judge."""
    if run.cfg.judge is None:
        return None
    return placement_here(run.cfg.engine, run.judge_engine_config())


def release(run: PipelineRun, cfg: EngineConfig) -> None:
    """Free the engine `run` holds for `cfg`: the engine factory's own `release` when it has one
    (scripted engines in tests), else the shared in-process engine's (generators/engines)."""
    own = getattr(run.engine_factory, "release", None)
    if own is not None:
        own(cfg)
    elif run.engine_factory is default_engine:
        release_engine(cfg)


@flow(name="synthloom-pipeline-shards", validate_parameters=False)
def shards_flow(run: PipelineRun) -> dict[str, Any]:
    """The run order of flows/run/order.py with shard x stage tasks on the configured task runner. With
    a judge on another model that does not fit beside the generator: every shard generates, the
    generator is freed, then every shard is judged."""
    started = time.perf_counter()
    graceful_stop_here()  # `synthloom run`: the first Ctrl-C / SIGTERM stops like a budget (flows/serving.py)
    prog = progress.current()
    placement = judge_placement(run)
    sequential = placement is not None and placement.mode == "sequential"
    dispatch = Dispatch(
        shards=functools.partial(_run_shards, sequential=sequential),
        count=_count_passing,
        publish=publish_run_task,
        before_shards=(lambda r: release(r, r.judge_engine_config())) if sequential else _no_release,
        phase=prog.phase,
        log=lambda line: get_run_logger().info(line),
    )
    ran = run_pipeline(run, dispatch)
    refs = [v.ref for v in ran.versions]
    if ran.already_published:
        summary = run_summary(refs, [], time.perf_counter() - started, already_published=True, engines=run.engines())
        return {**summary, "eval": evaluated(ran.run, refs[0])}
    run = ran.run
    llm = {s.name for s in run.cfg.sources} | {s.name for s in run.shard_stages() if s.engine is not None}
    return run_summary(
        refs,
        ran.task_outs,
        time.perf_counter() - started,
        llm,
        ran.publish_seconds,
        judge_gate=ran.gate.note() if ran.gate is not None else None,
        judge_engine=placement.line() if placement is not None else None,
        engines=run.engines(),
        target=ran.rounds,
        stopped=ran.versions[0].manifest().stopped,
        ledger=ran.versions[0].manifest().ledger,
    ) | {"eval": evaluated(run, refs[0])}


def _no_release(run: PipelineRun) -> None:
    return None


def _run_shards(run: PipelineRun, plan: Plan, sequential: bool) -> tuple[list[ShardOut], list[ShardOut]]:
    """Every shard x stage task of `plan`; returns every task's output (in submission order: the
    first failure raises its own error) and each shard's last one."""
    prog = progress.current()
    with shard_task_options(run.cfg):
        gens = _submit_generate(run, plan)
        if sequential:
            _track(gens)
            [f.result() for _, f in gens]  # a failed shard stops the run before the judge loads
            release(run, run.cfg.engine)
            prog.phase("generator freed; judging")
            rest, finals = _submit_rest(run, plan, gens)
            _track(rest)
        else:
            rest, finals = _submit_rest(run, plan, gens)
            _track(gens + rest)
    return [f.result() for _, f in gens + rest], [f.result() for f in finals]


def _count_passing(run: PipelineRun, plan: Plan, outs: list[ShardOut]) -> dict[str, int]:
    progress.current().phase("counting the rows that pass every gate")
    try:
        return count_passing(run, plan, outs)
    finally:
        progress.current().phase("")


def engine_factory() -> EngineFactory:
    """$SYNTHLOOM_ENGINE_FACTORY=`module:function` (EngineConfig -> Engine) replaces make_engine in
    pipeline runs, also in the flow-run processes `serve` starts (they inherit its environment):
    how tests run `serve` with a scripted engine, and a hook for an engine of your own."""
    spec = os.environ.get(ENGINE_FACTORY_ENV, "")
    if not spec:
        return default_engine
    module, _, name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"{ENGINE_FACTORY_ENV}={spec!r} is not an importable module:function; unset it") from None
    return factory


@flow(name="synthloom-pipeline", validate_parameters=False)
def pipeline_flow(config: dict[str, Any], root: str, tag: str | None = None) -> dict[str, Any]:
    """The pipeline of one YAML config (as a dict, so deployments can carry it). `tag` None: a
    scheduled run's time when run by a deployment, else '' (a rerun resumes and never republishes)."""
    cfg = parse_config(PipelineConfig, config, "pipeline config")
    run = PipelineRun(cfg, Path(root), scheduled_tag() if tag is None else tag, current_run_id(), engine_factory())
    with dataset_lock(root, cfg.dataset, f"pipeline run {run.run_id}"):  # reentrant: `synthloom run` holds it too
        run.checkpoints.gc_temp()
        with metered_run(cfg.budget):  # the budget's clock starts here; no stop outlives the run
            return shards_flow.with_options(task_runner=task_runner_for(cfg))(run)
