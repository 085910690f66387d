"""One pipeline run as plain, resumable steps (no Prefect here; flows/pipeline.py makes each step a
task): plan shards -> per shard: generate -> judge -> heuristics -> merge, dedup, decontaminate,
publish. Every shard x stage result is a checkpoint keyed by its inputs, config and stage
version (flows/checkpoints.py), so a killed run resumes where it stopped, and a run that is
already published is found by its run key instead of being published twice.

Tasks hand each other `ShardOut` records (a key and counts), never tables: a task on another
machine (Ray) reads its input from the checkpoint folder, which must be shared storage there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from filters.heuristics import Heuristics, HeuristicsConfig
from filters.judge import RubricJudge
from flows.checkpoints import Checkpoint, Checkpoints, cache_key
from flows.judge_gate import GateResult, calibrated, gate
from flows.pipeline_config import FromTextSource, MagpieSource, PersonaTasksSource, PipelineConfig
from flows.shard_plan import Plan, Shard, plan_shards
from generators.engines import make_engine
from generators.engines.batching import batched
from generators.magpie import Magpie
from generators.personas import PersonaTasks
from generators.text_to_instructions import TextToInstructions
from schemas.config import EngineConfig
from schemas.engine import Engine
from schemas.manifest import StageStats
from schemas.result import StageResult

log = logging.getLogger(__name__)

JUDGE_VERSION = "2"  # 2: judge_score column (expected score from logprobs)
HEURISTICS_VERSION = "1"
EngineFactory = Callable[[EngineConfig], Engine]


def default_engine(cfg: EngineConfig) -> Engine:
    """make_engine, looked up at call time (vLLM engines are shared per process: loaded once). An
    in-process vLLM engine is fed through one BatchingEngine, so concurrent shard workers share its batches."""
    engine = make_engine(cfg)
    return batched(engine, cfg.max_in_flight) if cfg.backend == "vllm" else engine


@dataclass(frozen=True)
class ShardOut:
    """What a shard task hands the next one: where its result is, and what it cost in this run."""

    shard: str
    stage: str
    key: str
    chain: tuple[tuple[str, str], ...]  # (stage, key) of this shard's checkpoints so far, this one last
    rows: int
    cached: bool
    seconds: float


@dataclass(frozen=True)
class PipelineRun:
    cfg: PipelineConfig
    root: Path
    tag: str = ""
    run_id: str = ""
    engine_factory: EngineFactory = field(default=default_engine, compare=False)
    judge_filter: bool = True  # False when the judge failed calibration and on_fail is keep_unfiltered
    calibration: dict[str, Any] | None = field(default=None, compare=False)  # the gate's report, for the manifest

    @property
    def checkpoints(self) -> Checkpoints:
        return Checkpoints(self.root, self.cfg.dataset)

    def judge_engine_config(self) -> EngineConfig:
        """The judge's own engine when its config sets one, else the pipeline's (one model loaded)."""
        judge = self.cfg.judge
        return judge.engine if judge is not None and "engine" in judge.model_fields_set else self.cfg.engine

    def plan(self) -> Plan:
        return plan_shards(self.cfg, self.root, self.tag)

    def run_key(self, plan: Plan) -> str:
        """Same config, tag and inputs -> same key: the identity `publish` checks before publishing."""
        return cache_key("pipeline", self.identity(), self.tag, [s.key for s in plan.shards])

    def identity(self) -> dict[str, Any]:
        """The config minus what only changes how the work is fed (engine.max_in_flight, progress)."""
        data = self.cfg.model_dump(mode="json")
        data["engine"] = self.cfg.engine.identity()
        if self.cfg.judge is not None:
            data["judge"] = self.cfg.judge.identity()
        return data

    # -- shard x stage steps -------------------------------------------------------------------
    def _step(self, shard: str, stage: str, key: str, chain: tuple, make: Callable[[], Any]) -> ShardOut:
        started = time.perf_counter()
        found = self.checkpoints.get(stage, key)
        cached = found is not None
        if found is None:
            tables, stats = make()
            found = self.checkpoints.put(stage, key, tables, stats)
        log.info("%s %s: %s (%d rows)", shard, stage, "cached" if cached else "done", found.stats.rows_out)
        took = round(time.perf_counter() - started, 3)
        return ShardOut(shard, stage, key, (*chain, (stage, key)), found.stats.rows_out, cached, took)

    def generate(self, shard: Shard) -> ShardOut:
        source = self.cfg.sources[shard.source_index]
        return self._step(shard.label, source.name, shard.key, (), lambda: self._generate(source, shard))

    def _generate(self, source: Any, shard: Shard) -> tuple[dict[str, pa.Table], StageStats]:
        """The source's stage, its rejects' `stage` set to the source name (as in the manifest)."""
        tables, stats = self._run_source(source, shard)
        rejects = tables["rejects"]
        stage = pa.array([source.name] * rejects.num_rows, pa.string())
        tables["rejects"] = rejects.set_column(rejects.schema.get_field_index("stage"), "stage", stage)
        return tables, stats

    def _run_source(self, source: Any, shard: Shard) -> tuple[dict[str, pa.Table], StageStats]:
        engine = self.engine_factory(self.cfg.engine)
        if isinstance(source, MagpieSource):
            result = Magpie(config=shard.payload)(engine, self.run_id)
            return _tables(result), result.stats.model_copy(update={"name": source.name})
        if isinstance(source, FromTextSource):
            t2i = TextToInstructions(config=shard.config)(shard.payload, engine, self.run_id)
            stats = t2i.sft.stats.model_copy(update={"name": source.name})
            return {**_tables(t2i.sft), "corpus": t2i.augmented}, stats
        assert isinstance(source, PersonaTasksSource)
        result = PersonaTasks(config=shard.config)(shard.payload, engine, self.run_id)
        return _tables(result), result.stats.model_copy(update={"name": source.name})

    def judge(self, prev: ShardOut) -> ShardOut:
        judge = self.cfg.judge
        if judge is None:
            return prev
        key = cache_key("judge", JUDGE_VERSION, judge.identity(), self.judge_engine_config().identity(), prev.key)

        def make() -> tuple[dict[str, pa.Table], StageStats]:
            rows = self.read(prev)
            engine = self.engine_factory(self.judge_engine_config()) if rows.num_rows else _NoEngine()
            result = RubricJudge(config=judge)(rows, engine)
            return _tables(result), result.stats

        return self._step(prev.shard, "judge", key, prev.chain, make)

    def needs_judge_gate(self) -> bool:
        return self.cfg.judge is not None and self.cfg.heuristics.min_judge_score is not None

    def gated(self) -> tuple[PipelineRun, GateResult | None]:
        """This run after the judge gate (flows/judge_gate.py): unchanged when no judge threshold applies;
        raises JudgeNotCalibratedError when the judge fails and the config says stop."""
        if not self.needs_judge_gate():
            return self, None
        judge, engine_cfg = self.cfg.judge, self.judge_engine_config()
        threshold = float(self.cfg.heuristics.min_judge_score)  # type: ignore[arg-type]
        report, cached, _ = calibrated(self.root, judge, engine_cfg, threshold, lambda: self.engine_factory(engine_cfg))
        result = gate(report, judge, cached)  # type: ignore[arg-type]
        return replace(self, judge_filter=result.filter_on_scores, calibration=result.manifest_entry()), result

    def heuristics_config(self) -> HeuristicsConfig:
        cfg = self.cfg.heuristics
        return cfg if self.judge_filter else cfg.model_copy(update={"min_judge_score": None})

    def heuristics(self, prev: ShardOut) -> ShardOut:
        cfg = self.heuristics_config()
        key = cache_key("heuristics", HEURISTICS_VERSION, cfg.model_dump(mode="json"), prev.key)

        def make() -> tuple[dict[str, pa.Table], StageStats]:
            result = Heuristics(config=cfg)(self.read(prev))
            return _tables(result), result.stats

        return self._step(prev.shard, "heuristics", key, prev.chain, make)

    # -- reading results back ---------------------------------------------------------------------
    def checkpoint(self, stage: str, key: str) -> Checkpoint:
        found = self.checkpoints.get(stage, key)
        if found is None:
            raise FileNotFoundError(f"checkpoint {stage}/{key} is missing under {self.checkpoints.dir}")
        return found

    def read(self, out: ShardOut, table: str = "rows") -> pa.Table:
        return self.checkpoint(out.stage, out.key).read(table)

    def chain(self, out: ShardOut) -> list[Checkpoint]:
        return [self.checkpoint(stage, key) for stage, key in out.chain]

    def with_engine_factory(self, factory: EngineFactory) -> PipelineRun:
        return replace(self, engine_factory=factory)


class _NoEngine:
    """Stands in when a stage has no rows to send: no model is loaded just to score nothing."""

    model_id = ""

    def chat(self, conversations: list, params: list, json_schema: Any = None) -> list:
        assert not conversations, "_NoEngine got work"
        return []

    def special_tokens(self) -> tuple[str, ...]:
        return ()


def _tables(result: StageResult) -> dict[str, pa.Table]:
    return {"rows": result.rows, "rejects": result.rejects}
