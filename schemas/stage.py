"""The one stage contract every generator, judge and filter implements, and the small pieces every
stage needs the same way (lineage, seeds, system turns).

    class MyFilter(Frozen):
        version: ClassVar[str] = "1"
        config: MyFilterConfig = MyFilterConfig()

        def run(self, rows: pa.Table, ctx: StageContext) -> StageResult: ...

- `rows` is Arrow data: the rows to judge/filter, or for a source the shard's inputs (Magpie: one
  row per conversation with its `seed`; from-text: documents; persona tasks: personas).
- `ctx.name` is the stage's name in this pipeline (the manifest's stage name and the rejects'
  `stage` column): the pipeline gives it, the stage does not hard-code it.
- `ctx.engine()` loads (or reuses) the engine the pipeline gave this stage; a stage that needs no
  model never calls it, so none is loaded.
- The result is kept rows, rejects (reason + raw text, never an exception for bad model output)
  and stats. Extra outputs (the from-text augmented corpus) go in `StageResult.extra`.

`version` goes into every checkpoint key: bump it when the stage's output for the same input changes.

Finish stages (dedup, semantic dedup, decontamination: flows/run/finish_stages.py) see every row of
a run, not one shard, so they take the rows as a stream (a million rows do not fit in memory twice):

    class MyGlobal(Frozen):
        version: ClassVar[str] = "1"
        config: MyGlobalConfig = MyGlobalConfig()

        def run_stream(self, batches: Iterator[pa.RecordBatch], schema: pa.Schema,
                       ctx: StageContext) -> Iterator[StageResult]: ...

- One StageResult per input batch (or group of batches), yielded as soon as it is done; its kept
  rows flow on to the next stage. A stage that must see every row at once (semantic dedup) may
  gather them and yield one result; every other stage keeps memory bounded by a batch.
- `schema` is the batches' schema (the stream may be empty). A stream that yields no result is
  recorded with zero rows, so the stage is still in the manifest.

Two optional class attributes say which columns a stage works with; the plan checks them, step by
step from the columns its source makes, before any model loads (`check_columns`):

    inputs: ClassVar[tuple[str, ...]] = ("response",)      # columns it reads from `rows`
    outputs: ClassVar[tuple[str, ...]] = ("shout_share",)  # columns it adds to the kept rows

A stage without `inputs` is not checked; one that declares neither may add or drop anything, so the
stages after it are not checked either. A stage whose kept rows are new rows (the pairwise judge's DPO
pairs) sets `replaces_columns: ClassVar[bool] = True`: then only its `outputs` follow it. A source's
stage declares the columns of its shard inputs (`inputs`) and of every row it makes (`outputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import pyarrow as pa
from pydantic import BaseModel

from schemas.engine import Engine
from schemas.errors import ConfigError
from schemas.result import StageResult
from schemas.rows import content_id, utc_now


@dataclass(frozen=True)
class StageContext:
    name: str
    run_id: str = ""
    make_engine: Callable[[], Engine] | None = None

    def engine(self) -> Engine:
        if self.make_engine is None:
            raise RuntimeError(f"stage {self.name!r} needs an engine, but the pipeline gave it none")
        return self.make_engine()


@runtime_checkable
class Stage(Protocol):
    version: ClassVar[str]
    config: BaseModel

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult: ...


@runtime_checkable
class GlobalStage(Protocol):
    """A finish stage: sees all of a run's rows, streamed in record batches (see the module docstring)."""

    version: ClassVar[str]
    config: BaseModel

    def run_stream(
        self, batches: Iterator[pa.RecordBatch], schema: pa.Schema, ctx: StageContext
    ) -> Iterator[StageResult]: ...


@dataclass(frozen=True)
class Columns:
    """The columns one shard stage declares (`inputs`, `outputs`, `replaces_columns` of its class)."""

    name: str
    inputs: tuple[str, ...] | None  # None: not declared, not checked
    outputs: tuple[str, ...] | None  # None: declares nothing, so the columns after it are unknown
    replaces_columns: bool = False  # its kept rows are new rows: only `outputs` follow it

    @classmethod
    def of(cls, name: str, stage: Any) -> Columns:
        inputs, outputs = getattr(stage, "inputs", None), getattr(stage, "outputs", None)
        if inputs is not None and outputs is None:
            outputs = ()  # declares what it reads and nothing else: it adds no column
        replaces = bool(getattr(stage, "replaces_columns", False))
        return cls(name, _names(inputs), _names(outputs), replaces)


def _names(columns: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if columns is None else tuple(columns)


def check_columns(source: str, made: Sequence[str], chain: Sequence[Columns]) -> None:
    """Walk `chain` (shard stages in run order) from the columns the source `source` makes; raise a
    one-line ConfigError at the first stage that reads a column no earlier step makes."""
    origin, base, added = f"source {source}", list(made), []
    for step in chain:
        have = {*base, *added}
        missing = [c for c in step.inputs or () if c not in have]
        if missing:
            raise ConfigError(_missing(step.name, missing, origin, base, added))
        if step.outputs is None:
            return  # a stage that declares nothing: what follows it cannot be known
        if step.replaces_columns:
            origin, base, added = f"stage {step.name!r}", list(step.outputs), []
        else:
            added += [c for c in step.outputs if c not in have]


def _missing(stage: str, missing: list[str], origin: str, base: list[str], added: list[str]) -> str:
    what, it = ("column", "it") if len(missing) == 1 else ("columns", "them")
    return (
        f"stage {stage!r} needs {what} {', '.join(map(repr, missing))}, which no earlier step makes "
        f"({origin} makes: {', '.join(base) or 'nothing'}; stages before it add: {', '.join(added) or 'nothing'}); "
        f"rename {it} or add a stage that makes {it}"
    )


def derive_seed(*parts: Any) -> int:
    """A 32-bit sampling seed from anything hashable into a content id (e.g. base seed, row id, turn):
    the same parts give the same seed on every machine and in every run."""
    return int(content_id(*parts)[:8], 16)


def system_turn(prompt: str | None) -> list[dict[str, str]]:
    """The system message a conversation starts with, or none."""
    return [] if prompt is None else [{"role": "system", "content": prompt}]


def lineage(
    *,
    source_kind: str,
    generator: str,
    generator_version: str,
    run_id: str,
    model_id: str = "",
    template_name: str = "",
    template_hash: str = "",
    sampling: str = "{}",
    parent_ids: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The lineage fields (schemas.rows.Lineage) every generated row and reject carries, stamped now.
    `extra` passes further Lineage fields through (e.g. `seed` for rows that share one)."""
    return dict(
        source_kind=source_kind,
        generator=generator,
        generator_version=generator_version,
        model_id=model_id,
        template_name=template_name,
        template_hash=template_hash,
        sampling=sampling,
        run_id=run_id,
        parent_ids=list(parent_ids or []),
        created_at=utc_now(),
        **extra,
    )


def context(name: str, engine: Engine | None = None, run_id: str = "") -> StageContext:
    """A StageContext for a stage called outside a pipeline (a convenience call, a test, a bench):
    `engine` as it is, or none (a stage that then asks for one raises)."""
    return StageContext(name, run_id, None if engine is None else (lambda: engine))
