"""Cut each source of a pipeline into shards, the unit of work, caching and resume. How a source
is cut is its kind's business (flows/sources/): Magpie by `shard_size` conversations, from-text by
`docs_per_shard` documents, persona tasks by `shard_size` personas, a dataset by rows.

A shard's key hashes its source kind and stage version, the source config, the engine's identity,
and the shard's own inputs (seeds, document / persona / row content ids). A run `tag` (scheduled
runs use their scheduled time) moves every seed, so each scheduled run samples new data while a
rerun of the same tag resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from flows.run.config import PipelineConfig
from flows.sources import PlanContext, ReadReport, kind_of
from flows.sources.base import Inputs, loaded


@dataclass(frozen=True)
class Shard:
    source_index: int
    label: str  # e.g. "magpie[2/4]"
    key: str
    inputs: Inputs  # what the source's stage runs on (seeds, documents, personas, rows), or its reader

    def rows(self) -> pa.Table:
        return loaded(self.inputs)


@dataclass(frozen=True)
class Plan:
    shards: list[Shard]
    reads: list[ReadReport] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # dataset versions read (parents in the manifest)


def combined(plans: list[Plan]) -> Plan:
    """Several rounds' plans as one (target_rows): every shard; the inputs' read reports once."""
    shards = [s for p in plans for s in p.shards]
    inputs = list(dict.fromkeys(i for p in plans for i in p.inputs))
    return Plan(shards, plans[0].reads if plans else [], inputs)


def plan_context(cfg: PipelineConfig, root: Path, tag: str = "") -> PlanContext:
    return PlanContext(Path(root), cfg.shard_size, cfg.engine.identity(), tag)


def plan_shards(cfg: PipelineConfig, root: Path, tag: str = "") -> Plan:
    """Every source's shards, in config order. Reads documents and datasets (no model calls)."""
    ctx = plan_context(cfg, root, tag)
    plan = Plan([])
    for i, src in enumerate(cfg.sources):
        part = kind_of(src).plan(src, ctx)
        n = len(part.shards)
        plan.shards.extend(Shard(i, f"{src.name}[{j + 1}/{n}]", key, t) for j, (key, t) in enumerate(part.shards))
        plan.reads.extend(part.reads)
        plan.inputs.extend(part.parents)
    return plan
