"""A published dataset version as a source: its rows, cut into shards, for one-off commands that
judge, filter or dedup a dataset (`synthloom score|filter|dedup REF`) through the same run core."""

from __future__ import annotations

import functools
from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from flows.sources.base import PlanContext, SourceKind, SourcePlan, slices
from flows.sources.magpie import NAME_PATTERN
from flows.store.ranges import RowRanges
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
    """The source stage of a dataset: the shard's rows, unchanged (their columns: `columns` below)."""

    version: ClassVar[str] = VERSION
    inputs: ClassVar[tuple[str, ...]] = ()
    config: DatasetSource

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        n = rows.num_rows
        return StageResult(
            rows, REJECT_SCHEMA.empty_table(), StageStats(name=ctx.name, rows_in=n, rows_out=n, rejected=0)
        )


def plan(src: DatasetSource, ctx: PlanContext) -> SourcePlan:
    """Shards keyed by their rows' ids (read alone); each shard's rows are read when it runs."""
    version = ctx.version(src.ref)
    rows = RowRanges(version)
    missing = [c for c in src.columns if c not in rows.schema.names]
    if missing:
        raise DatasetError(f"{version.ref} lacks columns {missing} (has: {', '.join(rows.schema.names)})")
    exact = src.model_copy(update={"ref": version.ref})
    ids = rows.column("id")
    spans = slices(rows.num_rows, src.rows_per_shard or ctx.shard_size)
    shards = [
        (ctx.key("dataset", VERSION, exact, ids.slice(start, n).to_pylist()), functools.partial(rows.read, start, n))
        for start, n in spans
    ]
    return SourcePlan(shards, parents=[version.ref])


def stage(src: DatasetSource, ctx: PlanContext) -> ReadRows:
    return ReadRows(config=src)


def columns(src: DatasetSource, ctx: PlanContext) -> tuple[str, ...] | None:
    """The version's columns, from its first file's schema (None: a version without rows)."""
    files = ctx.version(src.ref).files("rows")
    return tuple(pq.read_schema(files[0]).names) if files else None


KIND = SourceKind("dataset", DatasetSource, plan, stage, needs_engine=False, columns=columns)
