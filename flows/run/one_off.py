"""One-off commands as pipelines. `synthloom generate magpie|from-text|personas`, `personas
from-text|expand` and `score|filter|dedup REF` each build a PipelineConfig (one source, the stages
the command asks for) and run it through the same run core as `synthloom run`: sharded,
checkpointed, resumable after a kill, published once per run key. Their --config files keep their
own shapes (GenerateConfig, SourcesConfig, TransformConfig); this module maps them. No Prefect here.

A rerun of the same command with the same inputs and config finds its run already published (it
would produce the same rows) and says so; change a seed to sample anew.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from filters.decontaminate import DecontamConfig
from filters.dedup import DedupConfig
from filters.heuristics import HeuristicsConfig
from filters.judge import JudgeConfig
from filters.semantic import SemanticDedupConfig
from flows.run.config import PipelineConfig
from flows.sources import DatasetSource, FromTextSource, MagpieSource, PersonasSource, PersonaTasksSource
from generators.personas import PersonasConfig, PersonaTasksConfig
from generators.responses import CandidatesConfig
from generators.text_to_instructions import TextToInstructionsConfig
from schemas.config import EngineConfig, Frozen, GenerateConfig, load_config, sampling_limits

# Rows per shard when a command reads a dataset: small where each row costs a model call (a kill
# loses little), large where it does not (filters run at thousands of rows a second).
MODEL_ROWS_PER_SHARD = 32
FILTER_ROWS_PER_SHARD = 50_000
NO_FILTERS: dict[str, Any] = {"heuristics": None, "dedup": None}


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


class TransformConfig(Frozen):
    """What `synthloom score|filter|dedup --config FILE` reads (every section optional)."""

    judge: JudgeConfig = JudgeConfig()
    candidates: CandidatesConfig = CandidatesConfig()
    heuristics: HeuristicsConfig = HeuristicsConfig()
    decontaminate: DecontamConfig = DecontamConfig()
    dedup: DedupConfig = DedupConfig()
    semantic_dedup: SemanticDedupConfig = SemanticDedupConfig()


def load_sources_config(path: Path | None) -> SourcesConfig:
    return load_config(SourcesConfig, path)


def load_transform_config(path: Path | None, overrides: dict | None = None) -> TransformConfig:
    return load_config(TransformConfig, path, overrides)


def magpie(dataset: str, cfg: GenerateConfig) -> PipelineConfig:
    source = MagpieSource(kind="magpie", magpie=cfg.magpie)
    return PipelineConfig(dataset=dataset, engine=cfg.engine, sources=(source,), **NO_FILTERS)


def from_text(dataset: str, inputs: list[str], cfg: SourcesConfig) -> PipelineConfig:
    """SFT pairs -> `dataset`; the instruction-augmented corpus -> `dataset`_corpus."""
    source = FromTextSource(kind="from_text", inputs=tuple(inputs), text_to_instructions=cfg.text_to_instructions)
    return PipelineConfig(dataset=dataset, engine=cfg.engine, sources=(source,), **NO_FILTERS)


def persona_tasks(dataset: str, personas_ref: str | None, cfg: SourcesConfig) -> PipelineConfig:
    """Persona x task templates -> SFT rows; without a personas dataset, the shipped seeds."""
    source = PersonaTasksSource(kind="persona_tasks", personas=personas_ref or "seeds", persona_tasks=cfg.persona_tasks)
    return PipelineConfig(dataset=dataset, engine=cfg.engine, sources=(source,), **NO_FILTERS)


def personas(dataset: str, inputs: list[str], expand: str | None, cfg: SourcesConfig) -> PipelineConfig:
    """Seeds (+ personas inferred from `inputs`) -> dedup -> expansion -> dedup; or with `expand`:
    that personas dataset grown by expansion. Optional embedding dedup of the persona text after."""
    t2i = cfg.text_to_instructions
    source = PersonasSource(
        kind="personas",
        inputs=tuple(inputs),
        expand=expand,
        personas=cfg.personas,
        read=t2i.read,
        chunk_tokens=t2i.chunk_tokens,
        overlap_tokens=t2i.overlap_tokens,
    )
    semantic = cfg.persona_semantic_dedup
    if semantic is not None:
        semantic = semantic.model_copy(update={"text_column": "persona"})
    return PipelineConfig(dataset=dataset, engine=cfg.engine, sources=(source,), semantic_dedup=semantic, **NO_FILTERS)


OPS = ("score", "pairwise", "filter", "dedup", "semantic_dedup")


def transform(
    op: str, ref: str, out: str, cfg: TransformConfig, has_candidates: bool = False, against: tuple[str, ...] = ()
) -> PipelineConfig:
    """A published version REF through one operation, into a new version of `out` (REF its parent)."""
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}; one of {', '.join(OPS)}")
    model_op = op in ("score", "pairwise")
    source = DatasetSource(
        kind="dataset",
        ref=ref,
        columns=("id", "instruction", "response"),
        rows_per_shard=MODEL_ROWS_PER_SHARD if model_op else FILTER_ROWS_PER_SHARD,
    )
    stages: dict[str, Any] = {**NO_FILTERS}
    if op == "score":
        stages["judge"] = cfg.judge
    elif op == "pairwise":
        stages["pairwise"] = cfg.judge
        stages["candidates"] = None if has_candidates else cfg.candidates
    elif op == "filter":
        stages["heuristics"] = cfg.heuristics
        stages["decontaminate"] = cfg.decontaminate
    else:
        stages["dedup"] = cfg.dedup
        stages["dedup_against"] = against
        stages["semantic_dedup"] = cfg.semantic_dedup if op == "semantic_dedup" else None
    return PipelineConfig(dataset=out, engine=cfg.judge.engine_or(EngineConfig()), sources=(source,), **stages)
