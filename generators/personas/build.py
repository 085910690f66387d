"""The whole persona build (`Personas`), and growing a personas dataset (`GrowPersonas`).

Dedup (filters/dedup/personas.PersonaDedup, handed in by the caller) uses Persona Hub's settings
(`schemas.dedup_config.PERSONA_DEDUP`): word 1-gram MinHash with 128 permutations, LSH 16 bands x 8
rows (candidates from a unigram Jaccard of about 0.7 up; 0.9 is a candidate with probability >
0.999), each candidate verified with rapidfuzz token_sort_ratio >= 0.9. Persona Hub thresholds the
MinHash estimate itself at 0.9; the shared machinery verifies with rapidfuzz instead, which on one-
or two-sentence texts is at least as strict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from generators.personas.common import GENERATOR_VERSION, PERSONA_SCHEMA, PersonasConfig
from generators.personas.expand import ExpandPersonas
from generators.personas.from_text import PersonasFromText
from generators.personas.seeds import load_seed_personas
from schemas.config import Frozen
from schemas.engine import NO_ENGINE, Engine
from schemas.errors import ConfigError
from schemas.manifest import StageStats
from schemas.result import StageResult
from schemas.rows import REJECT_SCHEMA
from schemas.stage import StageContext, context


def _concat(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    tables = [t.select(schema.names).cast(schema) for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else schema.empty_table()


PersonaDedupFn = Callable[[pa.Table], StageResult]


def _no_dedup(personas: pa.Table) -> StageResult:
    raise ConfigError("the persona build needs a dedup step: pass dedup=filters.dedup.personas.PersonaDedup(...)")


class Personas(Frozen):
    """The whole build: seeds + text-to-persona (when chunks are given), dedup, expansion of what is
    kept (no model calls spent on duplicates), dedup of everything (earliest kept, so seeds win).
    `run(chunks, ctx) -> StageResult` (schemas/stage.py), or `stage(engine, run_id, chunks=None)`;
    rows_in counts seeds + chunks + expansion attempts, and rejects hold every step's drops.
    `dedup` is given by the caller (filters/dedup/personas.PersonaDedup): generators do not import filters."""

    version: ClassVar[str] = GENERATOR_VERSION
    inputs: ClassVar[tuple[str, ...]] = ("id", "text")  # text chunks (`config.text_column`: "text")
    outputs: ClassVar[tuple[str, ...]] = tuple(PERSONA_SCHEMA.names)
    config: PersonasConfig = PersonasConfig()
    dedup: PersonaDedupFn = Field(_no_dedup, exclude=True)

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """`rows`: text chunks (id + config.text_column) to infer personas from; empty: seeds only.
        A model is loaded only when something is asked of it."""
        cfg = self.config
        chunks = rows if rows.num_rows else None
        needs_model = chunks is not None or (cfg.expand_per_persona and cfg.seed_file)
        engine = ctx.engine() if needs_model else NO_ENGINE
        started = time.perf_counter()
        seeds = load_seed_personas(cfg.seed_file, ctx.run_id) if cfg.seed_file else PERSONA_SCHEMA.empty_table()
        steps = self._steps(seeds, chunks, engine, ctx.run_id)
        return _combined("personas", steps, steps[-1].rows, seeds.num_rows, started).named(ctx.name)

    def _steps(self, seeds: pa.Table, chunks: pa.Table | None, engine: Engine, run_id: str) -> list[StageResult]:
        """Every step's result in order (text-to-persona, dedup, expansion, dedup); the last one's rows are kept."""
        cfg = self.config
        steps: list[StageResult] = []
        if chunks is not None:
            steps.append(PersonasFromText(config=cfg).run(chunks, context("persona_from_text", engine, run_id)))
        deduped = self.dedup(_concat([seeds, *(s.rows for s in steps)], PERSONA_SCHEMA))
        steps.append(deduped)
        if cfg.expand_per_persona and deduped.rows.num_rows:
            expanded = ExpandPersonas(config=cfg).run(deduped.rows, context("persona_expand", engine, run_id))
            steps += [expanded, self.dedup(_concat([deduped.rows, expanded.rows], PERSONA_SCHEMA))]
        return steps

    def __call__(self, engine: Engine, run_id: str, chunks: pa.Table | None = None) -> StageResult:
        """`run` under the name "personas" (`chunks` None: seeds only)."""
        rows = chunks if chunks is not None else pa.table({"id": pa.array([], pa.string())})
        return self.run(rows, context("personas", engine, run_id))


class GrowPersonas(Frozen):
    """Expand a personas dataset: its personas plus `expand_per_persona` related ones each, deduplicated
    together (earliest kept, so the input's personas win). `run(personas, ctx) -> StageResult`."""

    version: ClassVar[str] = GENERATOR_VERSION
    inputs: ClassVar[tuple[str, ...]] = tuple(PERSONA_SCHEMA.names)  # a personas dataset's rows
    outputs: ClassVar[tuple[str, ...]] = tuple(PERSONA_SCHEMA.names)
    config: PersonasConfig = PersonasConfig()
    dedup: PersonaDedupFn = Field(_no_dedup, exclude=True)

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        started = time.perf_counter()
        expand = StageContext("persona_expand", ctx.run_id, ctx.make_engine)  # loads none for no personas
        expanded = ExpandPersonas(config=self.config).run(rows, expand)
        deduped = self.dedup(_concat([rows, expanded.rows], PERSONA_SCHEMA))
        return _combined(ctx.name, [expanded, deduped], deduped.rows, rows.num_rows, started)


def _combined(name: str, steps: list[StageResult], rows: pa.Table, extra_in: int, started: float) -> StageResult:
    """One StageResult for a multi-step build: rows_in = `extra_in` + every model step's rows_in."""
    rejects = _concat([s.rejects for s in steps], REJECT_SCHEMA)
    stats = StageStats(
        name=name,
        rows_in=extra_in + sum(s.stats.rows_in for s in steps if s.stats.name != "persona_dedup"),
        rows_out=rows.num_rows,
        rejected=rejects.num_rows,
        prompt_tokens=sum(s.stats.prompt_tokens for s in steps),
        completion_tokens=sum(s.stats.completion_tokens for s in steps),
        seconds=round(time.perf_counter() - started, 3),
    )
    return StageResult(rows, rejects, stats)
