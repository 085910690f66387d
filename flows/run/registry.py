"""The one registry of what a pipeline can run, by name: source kinds (flows/sources: KINDS), shard
stages (flows/run/core.py: BUILDERS) and finish stages (flows/run/finish_stages.py: FINISH).
A name means one thing: a stage's name is its manifest entry and its rejects' `stage` column, so a
source kind, a shard stage and a finish stage never share one."""

from __future__ import annotations

from flows.run.core import BUILDERS
from flows.run.finish_stages import FINISH
from flows.sources import KINDS


def stage_kinds() -> dict[str, tuple[str, ...]]:
    """Every built-in name, by where it runs: "sources", "shard" (in default order), "finish" (in run order)."""
    return {"sources": tuple(KINDS), "shard": tuple(BUILDERS), "finish": tuple(FINISH)}
