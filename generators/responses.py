"""Extra candidate responses per row, for pairwise judging (prompt -> several answers)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pyarrow as pa

from schemas.config import Frozen, SamplingConfig
from schemas.engine import ChatMessages, Completion
from schemas.manifest import StageStats
from schemas.result import StageResult
from schemas.rows import REJECT_SCHEMA
from schemas.stage import StageContext, derive_seed


class CandidatesConfig(Frozen):
    k: int = 2
    include_existing: bool = True  # the row's own `response` counts as candidate 0
    sampling: SamplingConfig = SamplingConfig(temperature=0.8, top_p=0.95, max_tokens=384)
    seed: int = 0


class Candidates(Frozen):
    """Adds a `candidates` list column. Truncated samples are left out (the pairwise judge then
    rejects rows with fewer than two), so nothing is dropped here."""

    version: ClassVar[str] = "1"
    inputs: ClassVar[tuple[str, ...]] = ("id", "instruction", "response")
    outputs: ClassVar[tuple[str, ...]] = ("candidates",)
    config: CandidatesConfig = CandidatesConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """The stage contract (schemas/stage.py): `rows` with a `candidates` column added."""
        engine = ctx.engine()
        started = time.perf_counter()
        records = rows.to_pylist()
        outs = engine.chat(*self._requests(records))
        candidates = [self._candidates(r, outs, i) for i, r in enumerate(records)]
        stats = StageStats(
            name=ctx.name,
            rows_in=len(records),
            rows_out=len(records),
            rejected=0,
            prompt_tokens=sum(c.prompt_tokens for c in outs),
            completion_tokens=sum(c.completion_tokens for c in outs),
            seconds=round(time.perf_counter() - started, 3),
        )
        out = rows.append_column("candidates", pa.array(candidates, pa.list_(pa.string())))
        return StageResult(out, REJECT_SCHEMA.empty_table(), stats)

    def _extra(self) -> int:
        return max(0, self.config.k - (1 if self.config.include_existing else 0))

    def _requests(self, records: list[dict[str, Any]]) -> tuple[list[ChatMessages], list[SamplingConfig]]:
        """`_extra()` sampled answers per row: its instruction, each with a seed of its own."""
        convs, params = [], []
        for r in records:
            for j in range(self._extra()):
                convs.append([{"role": "user", "content": r["instruction"]}])
                seed = derive_seed(self.config.seed, r["id"], j)
                params.append(self.config.sampling.model_copy(update={"seed": seed}))
        return convs, params

    def _candidates(self, row: dict[str, Any], outs: list[Completion], i: int) -> list[str]:
        """Row i's candidates: its own response (when it counts) and its untruncated, non-empty samples."""
        extra = self._extra()
        own = [row["response"]] if self.config.include_existing else []
        sampled = [c.text.strip() for c in outs[i * extra : (i + 1) * extra] if not c.truncated and c.text.strip()]
        return own + sampled
