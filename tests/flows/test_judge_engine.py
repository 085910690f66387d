"""A judge on another model: both engines stay loaded when they fit, else every shard generates,
the generator is freed, then every shard is judged. Scripted engines record load/free order."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import generators.engines.placement as placement
from flows.pipeline import shards_flow
from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun
from generators.engines.placement import GIB
from schemas.config import EngineConfig, parse_config
from tests.fakes import ScriptedEngine

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

VERDICT = json.dumps({"quality": 4, "difficulty": "easy", "category": "other", "rationale": "fine"})


class Engines:
    """An engine factory that records when each model is loaded and freed, and which models were
    loaded at once."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.loaded: dict[str, ScriptedEngine] = {}
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, cfg: EngineConfig) -> ScriptedEngine:
        with self.lock:
            if cfg.model not in self.loaded:
                self.events.append(("load", Path(cfg.model).name))
                self.loaded[cfg.model] = ScriptedEngine(
                    lambda p, sp: f"How does thing {sp.seed} work in practice?",
                    lambda m, sp: VERDICT if "### Reply" in m[-1]["content"] else "A plain answer long enough to keep.",
                )
                self.most_at_once = max(self.most_at_once, len(self.loaded))
            return self.loaded[cfg.model]

    def release(self, cfg: EngineConfig) -> None:
        with self.lock:
            if self.loaded.pop(cfg.model, None) is not None:
                self.events.append(("free", Path(cfg.model).name))


def model_folder(tmp_path: Path, name: str, weight_bytes: int) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with open(folder / "model.safetensors", "wb") as fh:
        fh.truncate(weight_bytes)  # sparse: the size is what counts
    return str(folder)


def run_with(tmp_path: Path, judge_weights: int, monkeypatch) -> tuple[dict, Engines]:
    monkeypatch.setattr(placement, "available_memory_bytes", lambda: int(24 * GIB))
    data = {
        "dataset": "twomodels",
        "shard_size": 2,
        "engine": {"model": model_folder(tmp_path, "gen", 1000)},
        "sources": [{"kind": "magpie", "magpie": {"n": 8}}],
        "judge": {"engine": {"model": model_folder(tmp_path, "judge", judge_weights)}},
        "heuristics": {"min_judge_score": None},
        "dedup": None,
    }
    cfg = parse_config(PipelineConfig, data, "test")
    engines = Engines()
    summary = shards_flow(PipelineRun(cfg, tmp_path / "data", "", "r", engine_factory=engines))
    return summary, engines


def test_judge_that_does_not_fit_runs_after_the_generator_is_freed(tmp_path, monkeypatch):
    summary, engines = run_with(tmp_path, 64 * int(GIB), monkeypatch)  # 64 GiB of weights: no room for both
    assert engines.events == [("load", "gen"), ("free", "gen"), ("load", "judge")]
    assert engines.most_at_once == 1
    assert summary["judge_engine"].startswith("judge engine: sequential: generator freed before judging because")
    assert summary["stages"]["judge"]["run"] == 4 and summary["versions"] == ["twomodels@v1"]


def test_judge_that_fits_stays_loaded_beside_the_generator(tmp_path, monkeypatch):
    summary, engines = run_with(tmp_path, 1000, monkeypatch)
    assert ("free", "gen") not in engines.events and engines.most_at_once == 2
    assert summary["judge_engine"].startswith("judge engine: both loaded (fit:")


def test_same_model_is_shared(tmp_path):
    data = {
        "dataset": "one",
        "shard_size": 2,
        "sources": [{"kind": "magpie", "magpie": {"n": 4}}],
        "judge": {},
        "heuristics": {"min_judge_score": None},
        "dedup": None,
    }
    engines = Engines()
    run = PipelineRun(parse_config(PipelineConfig, data, "t"), tmp_path, "", "r", engine_factory=engines)
    summary = shards_flow(run)
    assert summary["judge_engine"] == "judge engine: shared with the generator"
    assert engines.events == [("load", "embedded")]
