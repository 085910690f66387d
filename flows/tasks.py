"""Stages wrapped as Prefect tasks. The stages themselves stay plain callables."""

from __future__ import annotations

from prefect import task

from flows.publish import publish_result
from flows.sources import SourcesConfig, run_source
from flows.store import DatasetStore, Version
from flows.transforms import TransformConfig, run_transform
from generators.engines import make_engine
from generators.magpie import Magpie
from schemas.config import GenerateConfig
from schemas.result import StageResult


@task(name="magpie-generate")
def magpie_task(config: GenerateConfig, run_id: str) -> StageResult:
    engine = make_engine(config.engine)
    return Magpie(config=config.magpie)(engine, run_id)


@task(name="publish")
def publish_task(root: str, name: str, result: StageResult, config: GenerateConfig, run_id: str) -> Version:
    return publish_result(DatasetStore(root), name, result, config.model_dump(mode="json"), run_id)


@task(name="transform")
def transform_task(op: str, root: str, ref: str, out: str, config: TransformConfig, run_id: str) -> Version:
    return run_transform(op, root, ref, out, config, run_id)


@task(name="generate")
def source_task(
    kind: str, root: str, name: str, inputs: list[str], config: SourcesConfig, run_id: str, parent: str | None
) -> list[Version]:
    return run_source(kind, root, name, inputs, config, run_id, parent)
