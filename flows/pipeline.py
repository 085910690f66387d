"""Prefect flows. Generation and publish are tasks; the full DAG grows here (sources -> judge ->
filters -> dedup -> publish), each stage a task over Arrow tables."""

from __future__ import annotations

import uuid

from prefect import flow
from prefect.runtime import flow_run

from flows.sources import SourcesConfig
from flows.store import Version
from flows.tasks import magpie_task, publish_task, source_task, transform_task
from flows.transforms import TransformConfig
from schemas.config import GenerateConfig


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
