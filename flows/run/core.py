"""One pipeline run as plain, resumable steps (no Prefect here; flows/pipeline.py makes each step a
task): plan shards -> per shard: generate -> judge -> heuristics -> merge, dedup, decontaminate,
publish. Every shard x stage result is a checkpoint keyed by its inputs, config and stage
version (flows/run/checkpoints.py), so a killed run resumes where it stopped, and a run that is
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
from filters.judge import PairwiseJudge, RubricJudge
from filters.judge_threshold import JudgeThreshold, JudgeThresholdConfig
from flows.run.checkpoints import Checkpoint, Checkpoints, cache_key
from flows.run.config import PipelineConfig
from flows.run.judge_gate import GateResult, calibrated, gate
from flows.run.plan import Plan, Shard, plan_context, plan_shards
from flows.run.user_stages import ordered
from flows.sources import kind_of
from generators.engines import describe_engine, make_engine
from generators.engines.batching import batched
from generators.engines.spend import METER, Metered, Stopped
from generators.responses import Candidates
from schemas.config import EngineConfig
from schemas.engine import Engine
from schemas.manifest import StageStats
from schemas.stage import Columns, Stage, StageContext, check_columns

log = logging.getLogger(__name__)

EngineFactory = Callable[[EngineConfig], Engine]


def default_engine(cfg: EngineConfig) -> Engine:
    """make_engine, looked up at call time (vLLM engines are shared per process: loaded once). An
    in-process vLLM engine is fed through one BatchingEngine, so concurrent shard workers share its batches."""
    engine = make_engine(cfg)
    batchable = cfg.backend == "vllm" and hasattr(engine, "prepare")  # a scripted stand-in is used as is
    return batched(engine, cfg.max_in_flight) if batchable else engine


@dataclass(frozen=True)
class ShardStage:
    """A stage every shard goes through after its source (judge, heuristics, ...), in pipeline order."""

    name: str
    stage: Stage
    identity: Any  # what about the stage's config decides its output (the checkpoint key)
    engine: EngineConfig | None  # None: the stage needs no model

    def key(self, prev_key: str) -> str:
        engine = self.engine.identity() if self.engine is not None else None
        return cache_key(self.name, self.stage.version, self.identity, engine, prev_key)


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
    stopped: str | None = None  # 'budget' / 'interrupted': this stage did not run (nothing checkpointed)


@dataclass(frozen=True)
class PipelineRun:
    cfg: PipelineConfig
    root: Path
    tag: str = ""
    run_id: str = ""
    engine_factory: EngineFactory = field(default=default_engine, compare=False)
    judge_filter: bool = True  # False when the judge failed calibration and on_fail is keep_unfiltered
    calibration: dict[str, Any] | None = field(default=None, compare=False)  # the gate's report, for the manifest
    rounds: dict[str, Any] | None = field(default=None, compare=False)  # target_rows: the rounds' report
    published_before: int = 0  # rows this run key already published in versions a stop cut short
    published_shards: frozenset[str] = frozenset()  # those versions' shards (source keys): not published again
    published_by_source: dict[str, int] = field(default_factory=dict, compare=False)  # their rows per source

    @property
    def checkpoints(self) -> Checkpoints:
        return Checkpoints(self.root, self.cfg.dataset)

    def judge_engine_config(self) -> EngineConfig:
        """The judge's own engine when its config sets one, else the pipeline's (one model loaded)."""
        return self._engine_of(self.cfg.judge)

    def _engine_of(self, judge: Any) -> EngineConfig:
        return judge.engine_or(self.cfg.engine) if judge is not None else self.cfg.engine

    def engines(self) -> dict[str, str]:
        """Which model each model stage runs on (backend, model, path or base_url): the run summary and
        the manifest say it, so a judge on another model than the config names cannot hide."""
        out = {"generator": describe_engine(self.cfg.engine)}
        out.update({s.name: describe_engine(s.engine) for s in self.shard_stages() if s.engine is not None})
        return out

    def for_round(self, r: int, cfg: PipelineConfig) -> PipelineRun:
        """This run's round `r` (target_rows, flows/run/rounds.py): `cfg` with seeds of its own."""
        from flows.run.rounds import round_tag

        return replace(self, cfg=cfg, tag=round_tag(self.tag, r))

    def attempts(self, outs: list[ShardOut]) -> int:
        """Source rows these shards attempted (their source stage's rows in; shards a stop cut short
        count only once finished, by a later run)."""
        return sum(self.attempts_by_source(outs).values())

    def attempts_by_source(self, outs: list[ShardOut]) -> dict[str, int]:
        found: dict[str, int] = {}
        for o in self.fresh(outs):
            source = o.chain[0][0]
            found[source] = found.get(source, 0) + self.checkpoint(*o.chain[0]).stats.rows_in
        return found

    def fresh(self, outs: list[ShardOut]) -> list[ShardOut]:
        """The shards this run publishes: finished, and not in a version an earlier, stopped run published."""
        return [o for o in outs if not o.stopped and o.chain[0][1] not in self.published_shards]

    def target_left(self) -> int | None:
        """target_rows minus the rows earlier, stopped runs of this run key published already."""
        t = self.cfg.target_rows
        return None if t is None else max(0, t - self.published_before)

    def plan(self) -> Plan:
        """Every source's shards, after the column check: made by every runner before any model loads."""
        self.check_columns()
        return plan_shards(self.cfg, self.root, self.tag)

    def check_columns(self) -> None:
        """Every shard stage finds the columns it declares it reads (schemas/stage.py), from each
        source's: a one-line ConfigError naming the stage and the column otherwise."""
        chain = [Columns.of(s.name, s.stage) for s in self.shard_stages()]
        ctx = plan_context(self.cfg, self.root, self.tag)
        for src in self.cfg.sources:
            made = kind_of(src).outputs(src, ctx)
            if made is not None:
                check_columns(src.name, made, chain)

    def run_key(self, plan: Plan) -> str:
        """Same config, tag and inputs -> same key: the identity `publish` checks before publishing."""
        return cache_key("pipeline", self.identity(), self.tag, [s.key for s in plan.shards])

    def identity(self) -> dict[str, Any]:
        """The config minus what only changes how the work is fed (engine.max_in_flight, progress)."""
        data = self.cfg.model_dump(mode="json")
        data["engine"] = self.cfg.engine.identity()
        data["stages"] = [e if isinstance(e, str) else e.identity(e.build()) for e in self.cfg.stages]
        if not data["stages"]:
            del data["stages"]  # a config from before `stages:` keeps its run key
        data.pop("budget", None)  # how much may be spent, not what is made: a bigger budget resumes the run
        data.pop("eval", None)  # what is measured after publishing, not what is published
        for name in ("judge", "pairwise"):  # both are JudgeConfigs: the same identity for the run key
            if (judge := getattr(self.cfg, name)) is not None:
                data[name] = judge.identity()
        return data

    # -- shard x stage steps -------------------------------------------------------------------
    def _step(self, shard: str, stage: str, key: str, chain: tuple, make: Callable[[], Any], model: bool) -> ShardOut:
        """Stage `stage` of a shard from its checkpoint, or run (`make`) and checkpointed. After a stop
        (budget, Ctrl-C) a `model` stage that has not started does not start; one without a model runs."""
        started = time.perf_counter()
        found = self.checkpoints.get(stage, key)
        cached = found is not None
        if found is None:
            try:
                if model:
                    METER.check()  # a stopped run starts no model stage; one running stops at its next batch
                tables, stats = make()
            except Stopped as stop:
                log.info("%s %s: not run (%s)", shard, stage, stop)
                return ShardOut(shard, stage, key, chain, 0, False, 0.0, stopped=stop.reason)
            found = self.checkpoints.put(stage, key, tables, stats)
        log.info("%s %s: %s (%d rows)", shard, stage, "cached" if cached else "done", found.stats.rows_out)
        took = round(time.perf_counter() - started, 3)
        return ShardOut(shard, stage, key, (*chain, (stage, key)), found.stats.rows_out, cached, took)

    def _context(self, name: str, engine: EngineConfig | None) -> StageContext:
        """The stage's context; its engine is metered (flows: budget, graceful stop, the ledger)."""
        make = (lambda: Metered(self.engine_factory(engine), engine.prices)) if engine is not None else None
        return StageContext(name, self.run_id, make)

    def generate(self, shard: Shard) -> ShardOut:
        """The shard's source stage (flows/sources/: each kind says how it cuts and what runs)."""
        source = self.cfg.sources[shard.source_index]
        kind = kind_of(source)

        def make() -> tuple[dict[str, pa.Table], StageStats]:
            stage = kind.stage(source, plan_context(self.cfg, self.root, self.tag))
            result = stage.run(shard.rows(), self._context(source.name, self.cfg.engine if kind.needs_engine else None))
            return result.tables(), result.stats

        return self._step(shard.label, source.name, shard.key, (), make, kind.needs_engine)

    def shard_stages(self) -> list[ShardStage]:
        """What runs on every shard after its source, in order: the configured built-ins (candidates,
        judge, pairwise, heuristics) and your own stages (`stages:`, flows/run/user_stages.py)."""
        out = []
        for entry in ordered(self.cfg.stages, self.cfg.configured_stages()):
            if entry == "judge_threshold" and not self.judge_filter:
                continue  # the judge failed calibration and the config keeps its scores unfiltered
            if isinstance(entry, str):
                out.append(BUILDERS[entry](self))
            else:
                stage = entry.build()
                engine = self.cfg.engine if entry.needs_engine else None
                out.append(ShardStage(entry.stage_name(), stage, entry.identity(stage), engine))
        return out

    def _candidates(self) -> ShardStage:
        cfg = self.cfg.candidates
        return ShardStage("candidates", Candidates(config=cfg), cfg.model_dump(mode="json"), self.cfg.engine)

    def _judge(self) -> ShardStage:
        judge = self.cfg.judge
        return ShardStage("judge", RubricJudge(config=judge), judge.identity(), self.judge_engine_config())

    def _pairwise(self) -> ShardStage:
        pair = self.cfg.pairwise
        return ShardStage("pairwise", PairwiseJudge(config=pair), pair.identity(), self._engine_of(pair))

    def _heuristics(self) -> ShardStage:
        h = self.heuristics_config()
        return ShardStage("heuristics", Heuristics(config=h), h.model_dump(mode="json"), None)

    def _judge_threshold(self) -> ShardStage:
        h = self.cfg.heuristics
        cfg = JudgeThresholdConfig(
            min_score=h.min_judge_score, judge_column=h.judge_column, reject_unscored=h.reject_unscored
        )
        return ShardStage("judge_threshold", JudgeThreshold(config=cfg), cfg.model_dump(mode="json"), None)

    def step(self, name: str, prev: ShardOut) -> ShardOut:
        """Shard stage `name` over the rows of the shard's previous step (a checkpoint)."""
        if prev.stopped:
            return prev  # a stop cut this shard short before `name`: nothing to run it on
        stage = next(s for s in self.shard_stages() if s.name == name)

        def make() -> tuple[dict[str, pa.Table], StageStats]:
            result = stage.stage.run(self.read(prev), self._context(name, stage.engine)).named(name)
            return result.tables(), result.stats

        return self._step(prev.shard, name, stage.key(prev.key), prev.chain, make, stage.engine is not None)

    def shard(self, shard: Shard) -> ShardOut:
        """One shard through its source and every shard stage, in order, in this thread (the
        in-process runner and the estimate's pilot; the Prefect flow makes each step a task)."""
        out = self.generate(shard)
        for stage in self.shard_stages():
            out = self.step(stage.name, out)
        return out

    def needs_judge_gate(self) -> bool:
        h = self.cfg.heuristics
        return self.cfg.judge is not None and h is not None and h.min_judge_score is not None

    def gated(self) -> tuple[PipelineRun, GateResult | None]:
        """This run after the judge gate (flows/run/judge_gate.py): unchanged when no judge threshold applies;
        raises JudgeNotCalibratedError when the judge fails and the config says stop."""
        if not self.needs_judge_gate():
            return self, None
        judge, engine_cfg = self.cfg.judge, self.judge_engine_config()
        threshold = float(self.cfg.heuristics.min_judge_score)  # type: ignore[arg-type,union-attr]
        report, cached, _ = calibrated(self.root, judge, engine_cfg, threshold, lambda: self.engine_factory(engine_cfg))
        result = gate(report, judge, cached)  # type: ignore[arg-type]
        return replace(self, judge_filter=result.filter_on_scores, calibration=result.manifest_entry()), result

    def heuristics_config(self) -> HeuristicsConfig:
        """The heuristics as configured; with a judge in this pipeline, without its threshold (that is
        the judge_threshold stage). Rows scored by an earlier run (`synthloom filter`) keep it here."""
        cfg = self.cfg.heuristics or HeuristicsConfig()
        if "judge_threshold" in self.cfg.configured_stages():
            return cfg.model_copy(update={"min_judge_score": None})
        return cfg

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


BUILDERS: dict[str, Callable[[PipelineRun], ShardStage]] = {  # the built-in shard stages, by name
    "candidates": PipelineRun._candidates,
    "judge": PipelineRun._judge,
    "pairwise": PipelineRun._pairwise,
    "heuristics": PipelineRun._heuristics,
    "judge_threshold": PipelineRun._judge_threshold,
}
