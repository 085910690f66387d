"""The one YAML file behind `synthloom run` / `synthloom serve`: sources -> judge -> filters ->
dedup -> decontamination -> one published version. Validated up front, so a misspelled key or a
bad value stops the run before any model loads, with the key's dotted path in the message.

    dataset: daily_sft
    shard_size: 16
    sources:
      - kind: magpie
        magpie: {n: 64}
      - kind: from_text
        inputs: [data/seeds/corpus]
      - kind: persona_tasks
        limit: 20
    judge: {}            # omit or `null` to skip judging
    heuristics: {min_judge_score: 3}   # applies only when a judge ran
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from filters.decontaminate import DecontamConfig
from filters.dedup import DedupConfig
from filters.heuristics import HeuristicsConfig
from filters.judge import JudgeConfig
from filters.semantic import SemanticDedupConfig
from flows.eval_config import EvalConfig
from flows.run.user_stages import BUILT_IN, StageEntry, check_order
from flows.sources import Source
from flows.store import check_name
from generators.responses import CandidatesConfig
from schemas.config import Budget, EngineConfig, Frozen, load_config, sampling_limits
from schemas.errors import DatasetError


class PipelineConfig(Frozen):
    dataset: str = Field(..., description="output dataset; each run publishes a new version of it")
    engine: EngineConfig = EngineConfig()
    shard_size: int = Field(32, ge=1, description="Magpie conversations / personas per shard")
    sources: tuple[Source, ...] = Field(..., min_length=1)
    candidates: CandidatesConfig | None = Field(None, description="extra sampled responses per row (for pairwise)")
    judge: JudgeConfig | None = Field(None, description="rubric judge; omit to skip (min_judge_score needs it)")
    pairwise: JudgeConfig | None = Field(None, description="pairwise judge: rows become DPO pairs; null: off")
    heuristics: HeuristicsConfig | None = Field(HeuristicsConfig(), description="quality heuristics; null: off")
    dedup: DedupConfig | None = Field(DedupConfig(), description="also against every earlier version; null: skip")
    semantic_dedup: SemanticDedupConfig | None = Field(
        None, description="after dedup: drop paraphrased instructions by embedding similarity; null: off"
    )
    decontaminate: DecontamConfig = DecontamConfig()
    dedup_against: tuple[str, ...] = Field(
        (), description="also dedup against these published versions of other datasets (NAME@vN or NAME)"
    )
    target_rows: int | None = Field(
        None, ge=1, description="publish exactly this many kept rows: run rounds of shards until enough pass"
    )
    max_attempts: int | None = Field(
        None, ge=1, description="with target_rows: source rows to attempt at most (None: 20 x target_rows)"
    )
    budget: Budget | None = Field(
        None, description="caps on new model work (tokens, USD, seconds); reached: publish what passed, stopped: budget"
    )
    stages: tuple[StageEntry, ...] = Field(
        (), description="shard stages in order: built-in names and your own (kind: python, flows/run/user_stages.py)"
    )
    eval: EvalConfig | None = Field(
        None, description="after publish: fine-tune on the version and score it (synthloom eval); null: off"
    )
    task_runner: Literal["local", "ray"] = Field("local", description="ray: shards run on a Ray cluster")
    ray_address: str | None = Field(None, description="with task_runner=ray: None starts a local Ray instance")
    ray_gpus_per_task: float = Field(0, ge=0, description="GPUs a shard task reserves on Ray (1: a replica per GPU)")

    @model_validator(mode="after")
    def _check(self) -> PipelineConfig:
        try:
            check_name(self.dataset)
        except DatasetError as err:
            raise ValueError(str(err)) from None
        problems = check_order(self.stages, self.configured_stages())
        if problems:
            raise ValueError("; ".join(problems))
        names = [s.name for s in self.sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"sources share the name(s) {repeated}: give each source its own `name:`")
        own = [s.name for s in self.sources if getattr(s, "target_rows", None) is not None]
        if own and self.target_rows is not None:
            raise ValueError(
                f"target_rows is set for the pipeline and for source(s) {own}: set it for the pipeline "
                "(rows from any source) or per source (each source's own), not both"
            )
        if self.target_rows is not None and any(s.kind == "dataset" for s in self.sources):
            raise ValueError("target_rows needs generating sources: a `dataset` source has no new rows to try")
        judge_engine = self.judge.engine_or(self.engine) if self.judge else self.engine
        if self.budget is not None and self.budget.max_usd is not None:
            unpriced = [n for n, e in self.model_engines().items() if e.prices is None]
            if unpriced:
                raise ValueError(
                    f"budget.max_usd needs prices for every engine, but {', '.join(unpriced)} has none: "
                    "set engine.prices: {prompt_per_mtok: ..., completion_per_mtok: ...} (USD per million tokens)"
                )
        problems = sampling_limits(self.sources, self.engine, "sources") + sampling_limits(
            self.judge, judge_engine, "judge"
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def configured_stages(self) -> list[str]:
        """The built-in shard stages this config sets, in their default order (the judge threshold:
        a judge and heuristics.min_judge_score; the gate may still leave it out of a run)."""
        h = self.heuristics
        threshold = self.judge is not None and h is not None and h.min_judge_score is not None
        return [n for n in BUILT_IN if (threshold if n == "judge_threshold" else getattr(self, n) is not None)]

    def model_engines(self) -> dict[str, EngineConfig]:
        """Each model stage's engine config: the generator's, and the judges' (their own or the generator's)."""
        out = {"engine": self.engine}
        for name in ("judge", "pairwise"):
            if (judge := getattr(self, name)) is not None:
                out[f"{name}.engine"] = judge.engine_or(self.engine)
        return out


def load_pipeline_config(path: Path, overrides: dict | None = None) -> PipelineConfig:
    return load_config(PipelineConfig, path, overrides)
