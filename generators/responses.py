"""Extra candidate responses per row, for pairwise judging (prompt -> several answers)."""

from __future__ import annotations

import time
from typing import ClassVar

import pyarrow as pa

from schemas.config import Frozen, SamplingConfig
from schemas.engine import Engine
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
        """The stage contract (schemas/stage.py)."""
        return self(rows, ctx.engine()).named(ctx.name)

    def __call__(self, table: pa.Table, engine: Engine) -> StageResult:
        started = time.perf_counter()
        rows = table.to_pylist()
        existing = 1 if self.config.include_existing else 0
        extra = max(0, self.config.k - existing)
        convs, params = [], []
        for r in rows:
            for j in range(extra):
                convs.append([{"role": "user", "content": r["instruction"]}])
                seed = derive_seed(self.config.seed, r["id"], j)
                params.append(self.config.sampling.model_copy(update={"seed": seed}))
        outs = engine.chat(convs, params)
        candidates = []
        for i, r in enumerate(rows):
            own = [r["response"]] if existing else []
            sampled = [c.text.strip() for c in outs[i * extra : (i + 1) * extra] if not c.truncated and c.text.strip()]
            candidates.append(own + sampled)
        out = table.append_column("candidates", pa.array(candidates, pa.list_(pa.string())))
        stats = StageStats(
            name="candidates",
            rows_in=len(rows),
            rows_out=len(rows),
            rejected=0,
            prompt_tokens=sum(c.prompt_tokens for c in outs),
            completion_tokens=sum(c.completion_tokens for c in outs),
            seconds=round(time.perf_counter() - started, 3),
        )
        return StageResult(out, REJECT_SCHEMA.empty_table(), stats)
