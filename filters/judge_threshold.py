"""The judge threshold as a stage of its own: rows whose rubric score (the judge's `judge_score`) is
below `min_score` are rejected as `low_judge_score` (rows without a score as `unscored` when
`reject_unscored`). A pipeline runs it after its shard stages when the judge passed calibration (the
gate, flows/run/judge_gate.py), and leaves it out when the gate keeps scores unfiltered; its YAML
keys stay `heuristics.min_judge_score` / `judge_column` / `reject_unscored`. Heuristics in a pipeline
then only do heuristics."""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters.base import split_rows
from filters.heuristics import Verdict, judge_check
from schemas.config import Frozen
from schemas.result import StageResult
from schemas.stage import StageContext


class JudgeThresholdConfig(Frozen):
    min_score: float = Field(3.0, description="reject rows the judge scored below this")
    judge_column: str = "judge_score"
    reject_unscored: bool = False


class JudgeThreshold(Frozen):
    version: ClassVar[str] = "1"
    inputs: ClassVar[tuple[str, ...]] = ()  # `judge_column` when the rows have it; without it, nothing is rejected
    outputs: ClassVar[tuple[str, ...]] = ()
    config: JudgeThresholdConfig = JudgeThresholdConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        started = time.perf_counter()
        c = self.config
        verdicts: list[Verdict | None] = [None] * rows.num_rows
        check = judge_check(rows, c.judge_column, c.min_score, c.reject_unscored)
        for i, verdict in check(np.ones(rows.num_rows, dtype=bool)) if check is not None else []:
            verdicts[i] = verdict
        return split_rows(rows, ctx.name, verdicts, started=started)
