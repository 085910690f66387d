"""What every source kind shares: the planning context it gets, the plan it returns, and the
helpers that make shard keys and tagged seeds. A source kind cuts its inputs into shards (each an
Arrow table, the unit of resume, or a function that reads it when the shard runs) and names the
stage (schemas/stage.py) that runs on each shard."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field

from flows.store import DatasetStore, Version
from readers.documents import Skipped
from schemas.config import Frozen
from schemas.manifest import StageStats
from schemas.rows import content_id
from schemas.stage import Stage


@dataclass(frozen=True)
class PlanContext:
    root: Path  # the datasets root: where input datasets are read from
    shard_size: int
    engine_identity: dict[str, Any]
    tag: str = ""  # a scheduled run's time: moves every seed, so each scheduled run samples anew

    def seed(self, seed: int) -> int:
        """`seed` moved by the run tag (unchanged without one), the same on every machine."""
        if not self.tag:
            return seed
        return int(hashlib.sha256(f"{seed}:{self.tag}".encode()).hexdigest()[:8], 16)

    def key(self, kind: str, version: str, config: Frozen, ids: Sequence[Any]) -> str:
        """A shard's checkpoint key: its kind and stage version, the (tagged) config, the engine's
        identity and the shard's own inputs (not a source's `target_rows`: how many rows to keep)."""
        data = config.model_dump(mode="json", exclude={"target_rows"})
        return content_id(kind, version, data, self.engine_identity, list(ids))

    def read_dataset(self, ref: str) -> tuple[pa.Table, str]:
        """A published version's rows and its exact ref (NAME@vN), for the manifest's parents."""
        version = self.version(ref)
        return version.read(), version.ref

    def version(self, ref: str) -> Version:
        return DatasetStore(self.root).get(ref)


def target_field() -> Any:
    """A generating source's own `target_rows` (flows/run/rounds.py)."""
    return Field(None, ge=1, description="publish exactly this many of this source's rows (rounds until they pass)")


@dataclass(frozen=True)
class ReadReport:
    """Inputs a source could not use; they go to the rejects of the published version."""

    source: str
    stats: StageStats
    skipped: list[Skipped]


Inputs = pa.Table | Callable[[], pa.Table]  # a shard's rows, or how to read them when it runs


def loaded(inputs: Inputs) -> pa.Table:
    return inputs if isinstance(inputs, pa.Table) else inputs()


@dataclass(frozen=True)
class SourcePlan:
    shards: list[tuple[str, Inputs]]  # (key, inputs) per shard, in order
    reads: list[ReadReport] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)  # dataset versions read (parents in the manifest)


@dataclass(frozen=True)
class SourceKind:
    """One entry of the registry (flows/sources/__init__.py)."""

    kind: str
    config: type[Frozen]  # has `kind: Literal[kind]` and `name`
    plan: Callable[[Any, PlanContext], SourcePlan]
    stage: Callable[[Any, PlanContext], Stage]
    needs_engine: bool = True
    columns: Callable[[Any, PlanContext], tuple[str, ...] | None] | None = None  # None: its stage's `outputs`

    def outputs(self, src: Any, ctx: PlanContext) -> tuple[str, ...] | None:
        """The columns of every row this source makes (None: not known until it runs, not checked)."""
        if self.columns is not None:
            return self.columns(src, ctx)
        declared = getattr(self.stage(src, ctx), "outputs", None)
        return None if declared is None else tuple(declared)


def slices(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def table_shards(table: pa.Table, size: int, key: Callable[[pa.Table], str]) -> list[tuple[str, pa.Table]]:
    """`table` cut into shards of `size` rows, each keyed by `key(shard)`."""
    parts = [table.slice(start, n) for start, n in slices(table.num_rows, size)]
    return [(key(part), part) for part in parts]
