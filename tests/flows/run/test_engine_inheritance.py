"""Which engine the judge runs on must not depend on how the config reached the run: the CLI hands
flows `model_dump(mode="json")`, and the flow validates it again."""

from __future__ import annotations

from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun
from flows.run.one_off import TransformConfig, transform
from schemas.config import EngineConfig, parse_config

SERVED = {
    "backend": "openai",
    "model": "smol",
    "openai": {"base_url": "http://127.0.0.1:9/v1", "tokenizer": "embedded"},
}


def pipeline(judge: dict) -> PipelineConfig:
    data = {"dataset": "d", "engine": SERVED, "sources": [{"kind": "magpie"}], "judge": judge, "pairwise": judge}
    return parse_config(PipelineConfig, data, "test")


def round_trip(cfg: PipelineConfig) -> PipelineConfig:
    return PipelineConfig.model_validate(cfg.model_dump(mode="json"))


def test_judge_without_engine_uses_the_pipeline_engine_after_a_round_trip(tmp_path):
    for cfg in (pipeline({}), round_trip(pipeline({})), round_trip(round_trip(pipeline({})))):
        run = PipelineRun(cfg, tmp_path)
        assert cfg.judge.engine is None
        assert run.judge_engine_config() == cfg.engine
        assert run.judge_engine_config().backend == "openai"
        engines = {s.name: s.engine for s in run.shard_stages() if s.engine is not None}
        assert engines == {"judge": cfg.engine, "pairwise": cfg.engine}


def test_judge_with_its_own_engine_keeps_it_after_a_round_trip(tmp_path):
    own = {"model": "/models/judge-70b", "vllm": {"gpu_memory_utilization": 0.4}}
    cfg = round_trip(pipeline({"engine": own}))
    run = PipelineRun(cfg, tmp_path)
    assert run.judge_engine_config().model == "/models/judge-70b"
    assert run.judge_engine_config().vllm.gpu_memory_utilization == 0.4
    assert cfg.engine.backend == "openai"


def test_judge_explicitly_on_the_default_engine_is_not_the_pipeline_engine(tmp_path):
    cfg = round_trip(pipeline({"engine": {}}))  # asked for the embedded model by name
    assert PipelineRun(cfg, tmp_path).judge_engine_config() == EngineConfig()


def test_round_trip_keeps_the_run_key(tmp_path):
    cfg = pipeline({})
    a, b = PipelineRun(cfg, tmp_path), PipelineRun(round_trip(cfg), tmp_path)
    assert a.identity() == b.identity()


def test_one_off_score_without_a_judge_engine_uses_the_embedded_model():
    cfg = transform("score", "d@v1", "out", TransformConfig())
    assert cfg.engine == EngineConfig() and cfg.judge.engine is None
