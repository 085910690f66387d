"""Magpie: `n` conversations, `shard_size` per shard; conversation i keeps seed `seed + i` whatever
the shard size, so a bigger `n` later reuses every shard it shares with the earlier run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flows.sources.base import PlanContext, SourceKind, SourcePlan, slices, target_field
from generators.magpie import GENERATOR_VERSION, Magpie, seeds_table
from schemas.config import Frozen, MagpieConfig

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,30}$"


class MagpieSource(Frozen):
    kind: Literal["magpie"]
    name: str = Field("magpie", pattern=NAME_PATTERN, description="stage name in the manifest; unique per source")
    magpie: MagpieConfig = MagpieConfig()
    target_rows: int | None = target_field()


def plan(src: MagpieSource, ctx: PlanContext) -> SourcePlan:
    base = ctx.seed(src.magpie.seed)
    shards = []
    for start, n in slices(src.magpie.n, ctx.shard_size):
        shard_cfg = src.magpie.model_copy(update={"n": n, "seed": base + start})
        shards.append((ctx.key("magpie", GENERATOR_VERSION, shard_cfg, []), seeds_table(base + start, n)))
    return SourcePlan(shards)


def stage(src: MagpieSource, ctx: PlanContext) -> Magpie:
    return Magpie(config=src.magpie)


KIND = SourceKind("magpie", MagpieSource, plan, stage)
