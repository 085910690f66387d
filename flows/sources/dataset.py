"""A published dataset version as a source: its rows, cut into shards, for one-off commands that
judge, filter or dedup a dataset (`synthloom score|filter|dedup REF`) through the same run core."""

from __future__ import annotations

from typing import ClassVar, Literal

import pyarrow as pa
from pydantic import Field

from flows.sources.base import PlanContext, SourceKind, SourcePlan, table_shards
from flows.sources.magpie import NAME_PATTERN
from schemas.config import Frozen
from schemas.errors import DatasetError
from schemas.manifest import StageStats
from schemas.result import StageResult
from schemas.rows import REJECT_SCHEMA
from schemas.stage import StageContext

VERSION = "1"


class DatasetSource(Frozen):
    kind: Literal["dataset"]
    name: str = Field("read", pattern=NAME_PATTERN)
    ref: str = Field(..., description="a published version NAME@vN (NAME alone: the latest)")
    columns: tuple[str, ...] = Field(("id",), description="columns the rows must have")
    rows_per_shard: int | None = Field(None, ge=1, description="rows per shard; None: the pipeline's shard_size")


class ReadRows(Frozen):
    """The source stage of a dataset: the shard's rows, unchanged."""

    version: ClassVar[str] = VERSION
    config: DatasetSource

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        n = rows.num_rows
        return StageResult(
            rows, REJECT_SCHEMA.empty_table(), StageStats(name=ctx.name, rows_in=n, rows_out=n, rejected=0)
        )


def plan(src: DatasetSource, ctx: PlanContext) -> SourcePlan:
    table, ref = ctx.read_dataset(src.ref)
    missing = [c for c in src.columns if c not in table.column_names]
    if missing:
        raise DatasetError(f"{ref} lacks columns {missing} (has: {', '.join(table.column_names)})")
    exact = src.model_copy(update={"ref": ref})
    size = src.rows_per_shard or ctx.shard_size
    shards = table_shards(table, size, lambda part: ctx.key("dataset", VERSION, exact, part.column("id").to_pylist()))
    return SourcePlan(shards, parents=[ref])


def stage(src: DatasetSource, ctx: PlanContext) -> ReadRows:
    return ReadRows(config=src)


KIND = SourceKind("dataset", DatasetSource, plan, stage, needs_engine=False)
