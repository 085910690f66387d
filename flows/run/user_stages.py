"""Your own stage in a pipeline: `kind: python` names any importable class that meets the stage
contract (schemas/stage.py: a `version` string, a `config`, `run(rows, ctx) -> StageResult`).

    stages:
      - {kind: python, callable: "mypkg.filters:NoShouting", config: {max_caps_share: 0.5}}

It runs on every shard after the source, in the position `stages:` gives it (when the list names no
built-in shard stage, the configured ones run first in their default order), and is treated like ours: its results are
checkpoints keyed by its import path, the `version` it declares and its config, so changing any of
them reruns it and nothing else; its rejects (reason + raw text) and stats go to the version, its
lineage columns pass through. `needs_engine: true` hands it the pipeline's engine (`ctx.engine()`).
A class that cannot be imported or does not meet the contract is a config error before any model
loads, naming the entry and what is missing."""

from __future__ import annotations

import importlib
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from schemas.config import Frozen

BUILT_IN = ("candidates", "judge", "pairwise", "heuristics", "judge_threshold")  # configured by their own keys
# names a stage of yours may not take: a stage's name is its manifest entry and its rejects' `stage`,
# so it would add up with ours (finish stages: flows/run/finish_stages.py FINISH, plus merge and target)
RESERVED = (*BUILT_IN, "merge", "dedup", "semantic_dedup", "decontaminate", "target")
NAME = r"^[a-z][a-z0-9_]{0,30}$"


class PythonStage(Frozen):
    kind: Literal["python"]
    callable: str = Field(..., description="'package.module:ClassName' of a class meeting the stage contract")
    name: str | None = Field(None, pattern=NAME, description="stage name in the manifest (default: from the class)")
    config: dict[str, Any] = Field(default_factory=dict, description="the class's `config`, validated by it")
    needs_engine: bool = Field(False, description="true: ctx.engine() is the pipeline's engine")

    def stage_name(self) -> str:
        if self.name is not None:
            return self.name
        cls = self.callable.rpartition(":")[2]
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower()[:31]

    def build(self) -> Any:
        """The stage object; raises ValueError saying what is wrong with the entry."""
        module, _, attr = self.callable.partition(":")
        if not module or not attr:
            raise ValueError(f"callable {self.callable!r} is not 'package.module:ClassName'")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"callable {self.callable!r} cannot be imported: {err}") from None
        version = getattr(cls, "version", None)
        if not isinstance(version, str) or not callable(getattr(cls, "run", None)):
            raise ValueError(
                f"{self.callable} does not meet the stage contract: it needs a class attribute "
                "`version: ClassVar[str]` and a method `run(rows, ctx) -> StageResult` (schemas/stage.py)"
            )
        try:
            return cls(config=self.config) if self.config else cls()
        except Exception as err:  # the user's class validating the user's config: say which entry
            raise ValueError(f"{self.callable} rejected its config {self.config}: {err}") from None

    def identity(self, stage: Any) -> dict[str, Any]:
        """What decides its output: import path, declared version, config as the class read it."""
        config = (
            stage.config.model_dump(mode="json")
            if isinstance(getattr(stage, "config", None), BaseModel)
            else self.config
        )
        return {"callable": self.callable, "version": stage.version, "config": config}


StageEntry = str | PythonStage  # a built-in shard stage by name, or your own


def check_order(entries: tuple[StageEntry, ...], configured: list[str]) -> list[str]:
    """Problems with a `stages:` list: unknown or unconfigured built-ins, repeats, bad user stages."""
    problems, names = [], []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            if entry not in BUILT_IN:
                problems.append(
                    f"stages[{i}]: {entry!r} is not a shard stage; use one of {list(BUILT_IN)} or kind: python"
                )
            elif entry not in configured:
                how = (
                    "a judge and heuristics.min_judge_score" if entry == "judge_threshold" else f"a `{entry}:` section"
                )
                problems.append(f"stages[{i}]: {entry!r} is listed but not configured: add {how}")
            names.append(entry)
            continue
        try:
            entry.build()
        except ValueError as err:
            problems.append(f"stages[{i}]: {err}")
        name = entry.stage_name()
        if name in RESERVED:
            problems.append(f"stages[{i}]: {name!r} is a built-in stage's name; give yours another `name:`")
        names.append(name)
    listed = [e for e in entries if isinstance(e, str)]
    missing = [n for n in configured if n not in listed]
    if listed and missing:
        problems.append(
            f"stages lists {listed} but not {missing}: list every configured shard stage, or none "
            "(they then run first, in their default order)"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"stages: the name(s) {repeated} appear twice; give each stage its own `name:`")
    return problems


def ordered(entries: tuple[StageEntry, ...], configured: list[str]) -> list[StageEntry]:
    """The shard stages in run order: the list as given when it names the built-ins, else the
    configured built-ins first (candidates, judge, pairwise, heuristics) and then the list."""
    if any(isinstance(e, str) for e in entries):
        return list(entries)
    return [*configured, *entries]
