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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import pyarrow as pa
from pydantic import BaseModel

from schemas.engine import Engine
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
