"""Prefect flows (the only modules that import Prefect are this one and flows/tasks.py, train.py,
runners.py). One-off flows wrap one stage each; `pipeline_flow` is the whole DAG of a YAML config:
per shard generate -> judge -> heuristics tasks, then merge/dedup/decontaminate/publish."""

from __future__ import annotations

import importlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import deployment, flow_run

from flows.locks import dataset_lock
from flows.pipeline_config import PipelineConfig
from flows.pipeline_finish import publish_run, published_refs, run_summary
from flows.pipeline_run import EngineFactory, PipelineRun, ShardOut, default_engine
from flows.runners import shard_task_options, task_runner_for
from flows.shard_plan import Plan, Shard
from flows.sources import SourcesConfig
from flows.store import Version
from flows.tasks import magpie_task, publish_task, source_task, transform_task
from flows.transforms import TransformConfig
from schemas.config import GenerateConfig, parse_config
from schemas.errors import ConfigError

ENGINE_FACTORY_ENV = "SYNTHLOOM_ENGINE_FACTORY"


def current_run_id() -> str:
    return str(flow_run.get_id() or uuid.uuid4())


@flow(name="synthloom-magpie", validate_parameters=False)
def magpie_flow(config: GenerateConfig, dataset: str, root: str) -> Version:
    """Magpie generation, then publish one new version of `dataset` under `root`."""
    run_id = current_run_id()
    result = magpie_task(config, run_id)
    return publish_task(root, dataset, result, config, run_id)


@flow(name="synthloom-transform", validate_parameters=False)
def transform_flow(op: str, root: str, ref: str, out: str, config: TransformConfig) -> Version:
    """score / pairwise / filter / dedup one published version into a new version of `out`."""
    return transform_task(op, root, ref, out, config, current_run_id())


@flow(name="synthloom-generate", validate_parameters=False)
def source_flow(
    kind: str, root: str, name: str, inputs: list[str], config: SourcesConfig, parent: str | None = None
) -> list[Version]:
    """from_text / personas / persona_tasks: generate and publish (one or two versions)."""
    return source_task(kind, root, name, inputs, config, current_run_id(), parent)


# -- the whole DAG from one YAML config (synthloom run / serve) -----------------------------------


@task(name="generate", cache_policy=NO_CACHE)
def generate_task(run: PipelineRun, shard: Shard) -> ShardOut:
    return _logged(run.generate(shard))


@task(name="judge", cache_policy=NO_CACHE)
def judge_task(run: PipelineRun, prev: ShardOut) -> ShardOut:
    return _logged(run.judge(prev))


@task(name="heuristics", cache_policy=NO_CACHE)
def heuristics_task(run: PipelineRun, prev: ShardOut) -> ShardOut:
    return _logged(run.heuristics(prev))


@task(name="merge-dedup-decontaminate-publish", cache_policy=NO_CACHE)
def publish_run_task(run: PipelineRun, plan: Plan, outs: list[ShardOut], run_key: str) -> list[Version]:
    return publish_run(run, plan, outs, run_key)


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


@flow(name="synthloom-pipeline-shards", validate_parameters=False)
def shards_flow(run: PipelineRun) -> dict[str, Any]:
    """Plan shards, run shard x stage tasks (on the configured task runner), publish."""
    started = time.perf_counter()
    plan = run.plan()
    run_key = run.run_key(plan)
    done = published_refs(run, run_key)
    if done is not None:
        get_run_logger().info("this run (key %s) is already published: %s", run_key[:12], ", ".join(done))
        return run_summary(done, [], time.perf_counter() - started, already_published=True)
    run, gate_result = run.gated()  # before any generation: a judge that cannot filter stops the run here
    if gate_result is not None:
        get_run_logger().info(gate_result.note())
    finals, every = [], []
    with shard_task_options(run.cfg):
        for shard in plan.shards:
            out = generate_task.with_options(task_run_name=f"{shard.label} generate").submit(run, shard)
            every.append(out)
            if run.cfg.judge is not None:
                out = judge_task.with_options(task_run_name=f"{shard.label} judge").submit(run, out)
                every.append(out)
            out = heuristics_task.with_options(task_run_name=f"{shard.label} heuristics").submit(run, out)
            every.append(out)
            finals.append(out)
    task_outs = [f.result() for f in every]  # in submission order: the first failure raises its own error
    outs = [f.result() for f in finals]
    publish_started = time.perf_counter()
    versions = publish_run_task(run, plan, outs, run_key)
    publish_seconds = time.perf_counter() - publish_started
    llm = {s.name for s in run.cfg.sources} | {"judge"}
    wall = time.perf_counter() - started
    note = gate_result.note() if gate_result is not None else None
    return run_summary([v.ref for v in versions], task_outs, wall, llm, publish_seconds, judge_gate=note)


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
        return shards_flow.with_options(task_runner=task_runner_for(cfg))(run)
