"""Personas: the seed list plus personas inferred from documents, expanded and deduplicated; or a
personas dataset grown by expansion (`expand: NAME@vN`). One shard: the dedup between inference and
expansion spans every persona, so the build cannot be cut into independent parts."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field, model_validator

from filters.dedup.personas import PersonaDedup
from flows.sources.base import PlanContext, ReadReport, SourceKind, SourcePlan
from flows.sources.magpie import NAME_PATTERN
from generators.personas import GENERATOR_VERSION, GrowPersonas, Personas, PersonasConfig
from readers.chunks import chunk_documents
from readers.documents import ReadOptions, read_documents, read_stats
from schemas.config import Frozen
from schemas.rows import text_hash


class PersonasSource(Frozen):
    kind: Literal["personas"]
    name: str = Field("personas", pattern=NAME_PATTERN)
    inputs: tuple[str, ...] = Field((), description="documents to infer personas from (besides the seeds)")
    expand: str | None = Field(None, description="a personas dataset NAME@vN to grow, instead of a build from seeds")
    personas: PersonasConfig = PersonasConfig()
    read: ReadOptions = ReadOptions()
    chunk_tokens: int = Field(512, ge=16, description="max tokens per chunk the personas are inferred from")
    overlap_tokens: int = Field(64, ge=0)

    @model_validator(mode="after")
    def _one_mode(self) -> PersonasSource:
        if self.inputs and self.expand:
            raise ValueError(
                "set either `inputs` (build from seeds + documents) or `expand` (grow a dataset), not both"
            )
        return self


def _seed_file_hash(src: PersonasSource) -> str:
    path = src.personas.seed_file
    return text_hash(path.read_text(encoding="utf-8", errors="replace")) if path and path.is_file() else ""


def plan(src: PersonasSource, ctx: PlanContext) -> SourcePlan:
    if src.expand is not None:
        table, ref = ctx.read_dataset(src.expand)
        key = ctx.key("personas", GENERATOR_VERSION, src, ["expand", *table.column("id").to_pylist()])
        return SourcePlan([(key, table)], parents=[ref])
    docs, skipped = read_documents(list(src.inputs), src.read) if src.inputs else ([], [])
    chunks = chunk_documents(docs, None, src.chunk_tokens, src.overlap_tokens)
    table = pa.table({"id": pa.array([c.id for c in chunks], pa.string()), "text": [c.text for c in chunks]})
    key = ctx.key("personas", GENERATOR_VERSION, src, ["build", _seed_file_hash(src), *table.column("id").to_pylist()])
    reads = [ReadReport(src.name, read_stats(docs, skipped).model_copy(update={"name": f"{src.name}:read"}), skipped)]
    return SourcePlan([(key, table)], reads if src.inputs else [])


def stage(src: PersonasSource, ctx: PlanContext) -> Personas | GrowPersonas:
    dedup = PersonaDedup(config=src.personas.dedup)
    if src.expand is not None:
        return GrowPersonas(config=src.personas, dedup=dedup)
    return Personas(config=src.personas, dedup=dedup)


KIND = SourceKind("personas", PersonasSource, plan, stage)
