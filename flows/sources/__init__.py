"""Source kinds: where a pipeline's rows come from. Each kind is one module here with its config
(a Frozen model with `kind: Literal[...]` and a `name`), `plan(src, ctx) -> SourcePlan` (its inputs
cut into shards: Arrow tables, the unit of resume) and `stage(src, ctx)` (the stage, schemas/stage.py,
that runs on each shard). To add a kind: write that module, add it to `KINDS` below, add its tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from flows.sources import dataset, from_text, magpie, persona_tasks, personas
from flows.sources.base import PlanContext, ReadReport, SourceKind, SourcePlan
from flows.sources.dataset import DatasetSource
from flows.sources.from_text import FromTextSource
from flows.sources.magpie import NAME_PATTERN, MagpieSource
from flows.sources.persona_tasks import PersonaTasksSource
from flows.sources.personas import PersonasSource

KINDS: dict[str, SourceKind] = {
    k.kind: k for k in (m.KIND for m in (magpie, from_text, persona_tasks, personas, dataset))
}

Source = Annotated[Union[tuple(k.config for k in KINDS.values())], Field(discriminator="kind")]  # noqa: UP007


def kind_of(src: Any) -> SourceKind:
    return KINDS[src.kind]


__all__ = [
    "KINDS",
    "NAME_PATTERN",
    "DatasetSource",
    "FromTextSource",
    "MagpieSource",
    "PersonaTasksSource",
    "PersonasSource",
    "PlanContext",
    "ReadReport",
    "Source",
    "SourceKind",
    "SourcePlan",
    "kind_of",
]
