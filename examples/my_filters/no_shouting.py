"""A filter of your own, in one file: rejects rows whose response is mostly capital letters.

Use it from a pipeline YAML with one line (this folder importable, e.g. PYTHONPATH=examples):

    stages: [{kind: python, callable: "my_filters.no_shouting:NoShouting", config: {max_caps_share: 0.5}}]
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from filters.base import split_rows
from schemas.result import StageResult
from schemas.stage import StageContext


class NoShoutingConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_caps_share: float = Field(0.5, gt=0, le=1, description="reject above this share of capital letters")
    min_letters: int = Field(20, ge=1, description="shorter responses are never judged")


class NoShouting(BaseModel):
    version: ClassVar[str] = "1"  # bump when the same rows would now get other verdicts
    inputs: ClassVar[tuple[str, ...]] = ("response",)  # the columns it reads: checked before any model loads
    outputs: ClassVar[tuple[str, ...]] = ()  # the columns it adds to the kept rows: none, it only filters
    config: NoShoutingConfig = NoShoutingConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        return split_rows(rows, ctx.name, [self.verdict(text) for text in rows.column("response").to_pylist()])

    def verdict(self, text: str | None) -> tuple[str, str] | None:
        letters = [c for c in text or "" if c.isalpha()]
        if len(letters) < self.config.min_letters:
            return None
        share = sum(c.isupper() for c in letters) / len(letters)
        if share <= self.config.max_caps_share:
            return None
        return "shouting", f"{share:.0%} of the response's letters are capitals (max {self.config.max_caps_share:.0%})"
