"""Persona dedup: filters/dedup with Persona Hub's settings (schemas.dedup_config.PERSONA_DEDUP) over
the `persona` column. The persona build (generators/personas.Personas) is handed `PersonaDedup()`
by its caller, so generators never import filters."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pyarrow as pa

from filters.dedup.stage import Dedup
from schemas.config import Frozen
from schemas.dedup_config import PERSONA_DEDUP, DedupConfig
from schemas.result import StageResult
from schemas.stage import StageContext, context


class PersonaDedup(Frozen):
    """Near-duplicate personas dropped with filters/dedup.py (earliest of each cluster kept). Rejects
    have stage "persona_dedup", reason exact_duplicate / near_duplicate, and the persona as raw text."""

    config: DedupConfig = PERSONA_DEDUP

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """The stage contract (schemas/stage.py): the dedup under `ctx.name`, each reject's persona as raw text."""
        result = Dedup(config=self.config).run(rows, ctx)
        rejects = result.rejects
        raw = [json.loads(r).get("persona", "") for r in rejects.column("record").to_pylist()]
        rejects = rejects.set_column(rejects.schema.get_field_index("raw_text"), "raw_text", pa.array(raw, pa.string()))
        return replace(result, rejects=rejects)

    def __call__(self, personas: pa.Table) -> StageResult:
        """`run` under the name "persona_dedup": the `dedup` step the persona build is handed."""
        return self.run(personas, context("persona_dedup"))


def near_duplicate_rate(personas: pa.Table, config: DedupConfig = PERSONA_DEDUP) -> float:
    """Share of rows the dedup would drop (exact + near duplicates of an earlier row), 0..1."""
    if personas.num_rows == 0:
        return 0.0
    stats = Dedup(config=config)(personas).stats
    return stats.rejected / stats.rows_in


@dataclass(frozen=True)
class DedupReport:
    rows_before: int
    rows_after: int
    rate_before: float
    rate_after: float


def dedup_report(personas: pa.Table, config: DedupConfig = PERSONA_DEDUP) -> DedupReport:
    """Near-duplicate rate of `personas`, and of what dedup keeps of them (0 unless clusters chain)."""
    kept = PersonaDedup(config=config)(personas).rows
    return DedupReport(
        personas.num_rows, kept.num_rows, near_duplicate_rate(personas, config), near_duplicate_rate(kept, config)
    )
