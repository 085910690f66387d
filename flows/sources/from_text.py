"""From text: documents read from files, `docs_per_shard` per shard (chunked inside the shard with
the engine's tokenizer); unreadable inputs become rejects of the published version."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flows.sources.base import PlanContext, ReadReport, SourceKind, SourcePlan, table_shards, target_field
from flows.sources.magpie import NAME_PATTERN
from generators.text_to_instructions import GENERATOR_VERSION, TextToInstructions, TextToInstructionsConfig
from readers.documents import documents_table, read_documents, read_stats
from schemas.config import Frozen


class FromTextSource(Frozen):
    kind: Literal["from_text"]
    name: str = Field("from_text", pattern=NAME_PATTERN)
    inputs: tuple[str, ...] = Field(..., min_length=1, description="files, folders or globs of txt/md/jsonl/parquet")
    docs_per_shard: int = Field(4, ge=1, description="documents per shard (a shard is the unit of resume)")
    corpus: bool = Field(True, description="also publish the instruction-augmented corpus as <dataset>_corpus")
    text_to_instructions: TextToInstructionsConfig = TextToInstructionsConfig()
    target_rows: int | None = target_field()


def _config(src: FromTextSource, ctx: PlanContext) -> TextToInstructionsConfig:
    t2i = src.text_to_instructions
    return t2i.model_copy(update={"seed": ctx.seed(t2i.seed)})


def plan(src: FromTextSource, ctx: PlanContext) -> SourcePlan:
    cfg = _config(src, ctx)
    docs, skipped = read_documents(list(src.inputs), cfg.read)
    shards = table_shards(
        documents_table(docs),
        src.docs_per_shard,
        lambda part: ctx.key("from_text", GENERATOR_VERSION, cfg, part.column("id").to_pylist()),
    )
    stats = read_stats(docs, skipped).model_copy(update={"name": f"{src.name}:read"})
    return SourcePlan(shards, [ReadReport(src.name, stats, skipped)])


def stage(src: FromTextSource, ctx: PlanContext) -> TextToInstructions:
    return TextToInstructions(config=_config(src, ctx))


KIND = SourceKind("from_text", FromTextSource, plan, stage)
