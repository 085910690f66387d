"""Persona x task templates: personas (the shipped seeds, or a personas dataset), `shard_size` per shard."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import Field

from flows.sources.base import PlanContext, SourceKind, SourcePlan, table_shards, target_field
from flows.sources.magpie import NAME_PATTERN
from generators.personas import GENERATOR_VERSION, PersonaTasks, PersonaTasksConfig, load_seed_personas
from schemas.config import Frozen


class PersonaTasksSource(Frozen):
    kind: Literal["persona_tasks"]
    name: str = Field("persona_tasks", pattern=NAME_PATTERN)
    personas: str = Field("seeds", description="'seeds' (the shipped seed file) or a personas dataset NAME@vN")
    seed_file: Path | None = Field(None, description="with personas='seeds': another JSONL of {'persona': ...}")
    limit: int | None = Field(None, ge=1, description="use only the first N personas")
    persona_tasks: PersonaTasksConfig = PersonaTasksConfig()
    target_rows: int | None = target_field()


def _config(src: PersonaTasksSource, ctx: PlanContext) -> PersonaTasksConfig:
    return src.persona_tasks.model_copy(update={"seed": ctx.seed(src.persona_tasks.seed)})


def _personas(src: PersonaTasksSource, ctx: PlanContext) -> tuple[pa.Table, list[str]]:
    if src.personas == "seeds":
        return (load_seed_personas(src.seed_file) if src.seed_file else load_seed_personas()), []
    table, ref = ctx.read_dataset(src.personas)
    return table, [ref]


def plan(src: PersonaTasksSource, ctx: PlanContext) -> SourcePlan:
    table, parents = _personas(src, ctx)
    if src.limit is not None:
        table = table.slice(0, src.limit)
    cfg = _config(src, ctx)
    shards = table_shards(
        table,
        ctx.shard_size,
        lambda part: ctx.key("persona_tasks", GENERATOR_VERSION, cfg, part.column("id").to_pylist()),
    )
    return SourcePlan(shards, parents=parents)


def stage(src: PersonaTasksSource, ctx: PlanContext) -> PersonaTasks:
    return PersonaTasks(config=_config(src, ctx))


KIND = SourceKind("persona_tasks", PersonaTasksSource, plan, stage)
