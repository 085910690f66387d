"""Source generators other than Magpie, as publishable units: from-text (SFT + augmented corpus),
personas (seed / from-text / expand), persona x task templates. No Prefect here; flows/pipeline.py
runs `run_source` as a flow."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
from pydantic import Field, model_validator

from filters.semantic.config import SemanticDedupConfig
from filters.semantic.embed import Embedder
from filters.semantic.stage import SemanticDedup
from flows.publish import publish_version
from flows.store import DatasetStore, Version, check_name
from generators.documents import chunk_documents, read_documents, read_stats, skipped_rejects
from generators.engines import make_engine
from generators.personas import (
    ExpandPersonas,
    PersonaDedup,
    Personas,
    PersonasConfig,
    PersonaTasks,
    PersonaTasksConfig,
)
from generators.text_to_instructions import TextToInstructions, TextToInstructionsConfig
from schemas.config import EngineConfig, Frozen, load_config, sampling_limits
from schemas.manifest import StageStats
from schemas.rows import REJECT_SCHEMA


class SourcesConfig(Frozen):
    """What `synthloom generate from-text|personas` and `synthloom personas ...` read with --config."""

    engine: EngineConfig = EngineConfig()
    text_to_instructions: TextToInstructionsConfig = TextToInstructionsConfig()
    personas: PersonasConfig = PersonasConfig()
    persona_tasks: PersonaTasksConfig = PersonaTasksConfig()
    persona_semantic_dedup: SemanticDedupConfig | None = Field(
        None,
        description="after the MinHash persona dedup, drop personas whose embedding is within this cosine of a "
        "kept one (Persona Hub uses 0.9); null: off. Its text_column is always `persona`.",
    )

    @model_validator(mode="after")
    def _fits(self) -> SourcesConfig:
        parts = (self.text_to_instructions, self.personas, self.persona_tasks)
        names = ("text_to_instructions", "personas", "persona_tasks")
        if problems := [p for part, n in zip(parts, names, strict=True) for p in sampling_limits(part, self.engine, n)]:
            raise ValueError("; ".join(problems))
        return self


def load_sources_config(path: Path | None) -> SourcesConfig:
    return load_config(SourcesConfig, path)


def _cfg_json(cfg: SourcesConfig, kind: str, inputs: list[str]) -> dict:
    return {"source": kind, "inputs": inputs, **cfg.model_dump(mode="json")}


def from_text(store: DatasetStore, name: str, inputs: list[str], cfg: SourcesConfig, run_id: str) -> list[Version]:
    """SFT pairs -> `name`; the instruction-augmented corpus -> `name`_corpus."""
    t2i = cfg.text_to_instructions
    started = time.perf_counter()
    docs, skipped = read_documents(inputs, t2i.read)
    read = read_stats(docs, skipped, round(time.perf_counter() - started, 3))
    result = TextToInstructions(config=t2i)(docs, make_engine(cfg.engine), run_id)
    config = _cfg_json(cfg, "from_text", inputs)
    read_rejects = skipped_rejects(skipped, run_id)
    sft = publish_version(
        store, name, result.sft.rows, [read_rejects, result.sft.rejects], [read, result.sft.stats], config, run_id
    )
    n = result.augmented.num_rows
    augment = StageStats(name="augment", rows_in=n, rows_out=n, rejected=0)
    corpus = publish_version(
        store,
        f"{name}_corpus",
        result.augmented,
        [read_rejects],
        [read, augment],
        config,
        run_id,
        parent_versions=[sft.ref],
    )
    return [sft, corpus]


def _chunk_table(inputs: list[str], cfg: SourcesConfig) -> tuple[pa.Table, pa.Table, StageStats]:
    t2i = cfg.text_to_instructions
    docs, skipped = read_documents(inputs, t2i.read)
    chunks = chunk_documents(docs, None, t2i.chunk_tokens, t2i.overlap_tokens)
    table = pa.table({"id": [c.id for c in chunks], "text": [c.text for c in chunks]})
    return table, skipped_rejects(skipped, ""), read_stats(docs, skipped)


def personas_build(
    store: DatasetStore, name: str, inputs: list[str], cfg: SourcesConfig, run_id: str, parent: str | None
) -> list[Version]:
    """Seeds (+ personas inferred from `inputs`) -> dedup -> expansion -> dedup, or with `parent`:
    expand that personas dataset only."""
    engine = make_engine(cfg.engine)
    config = _cfg_json(cfg, "personas", inputs)
    if parent is not None:
        source = store.get(parent)
        expanded = ExpandPersonas(config=cfg.personas)(source.read(), engine, run_id)
        both = pa.concat_tables([source.read(), expanded.rows])
        deduped = PersonaDedup(config=cfg.personas.dedup)(both)
        rows, rejects, stages = semantic_personas(cfg, deduped.rows, [expanded.rejects, deduped.rejects])
        return [
            publish_version(
                store,
                name,
                rows,
                rejects,
                [expanded.stats, deduped.stats, *stages],
                config,
                run_id,
                parent_versions=[source.ref],
            )
        ]
    chunks, read_rejects, read = (None, REJECT_SCHEMA.empty_table(), None)
    if inputs:
        chunks, read_rejects, read = _chunk_table(inputs, cfg)
    result = Personas(config=cfg.personas)(engine, run_id, chunks)
    rows, rejects, extra = semantic_personas(cfg, result.rows, [read_rejects, result.rejects])
    stages = [s for s in (read, result.stats, *extra) if s is not None]
    return [publish_version(store, name, rows, rejects, stages, config, run_id)]


def semantic_personas(
    cfg: SourcesConfig, rows: pa.Table, rejects: list[pa.Table], embedder: Embedder | None = None
) -> tuple[pa.Table, list[pa.Table], list[StageStats]]:
    """Persona Hub's second dedup pass: by embedding similarity of the persona text (when configured)."""
    if cfg.persona_semantic_dedup is None or rows.num_rows == 0:
        return rows, rejects, []
    semantic = cfg.persona_semantic_dedup.model_copy(update={"text_column": "persona"})
    result = SemanticDedup(config=semantic)(rows, embedder)
    kept = result.rows.drop_columns([c for c in result.rows.column_names if c not in rows.column_names])
    return kept, [*rejects, result.rejects], [result.stats]


def persona_tasks(
    store: DatasetStore, name: str, personas_ref: str | None, cfg: SourcesConfig, run_id: str
) -> list[Version]:
    """Persona x task templates -> SFT rows. Without a personas dataset, the deduplicated seeds."""
    engine = make_engine(cfg.engine)
    if personas_ref is None:
        seeds_only = Personas(config=cfg.personas.model_copy(update={"expand_per_persona": 0}))
        personas, parents = seeds_only(engine, run_id).rows, []
    else:
        source = store.get(personas_ref)
        personas, parents = source.read(), [source.ref]
    result = PersonaTasks(config=cfg.persona_tasks)(personas, engine, run_id)
    config = _cfg_json(cfg, "persona_tasks", [personas_ref or "seeds"])
    return [publish_version(store, name, result.rows, [result.rejects], [result.stats], config, run_id, parents)]


def run_source(
    kind: str, root: str, name: str, inputs: list[str], cfg: SourcesConfig, run_id: str, parent: str | None = None
) -> list[Version]:
    check_name(name)
    store = DatasetStore(root)
    if kind == "from_text":
        return from_text(store, name, inputs, cfg, run_id)
    if kind == "personas":
        return personas_build(store, name, inputs, cfg, run_id, parent)
    if kind == "persona_tasks":
        return persona_tasks(store, name, parent, cfg, run_id)
    raise ValueError(f"unknown source kind {kind!r}")
