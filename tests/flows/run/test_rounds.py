"""`target_rows`: rounds of shards until exactly N rows pass every gate. A scripted engine with a
known yield (about 30 % of Magpie instructions are usable) stands in for the model."""

from __future__ import annotations

import pytest

from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun
from flows.run.order import run_in_process
from flows.run.rounds import next_attempts, scaled
from schemas.config import parse_config
from schemas.errors import ConfigError
from tests.fakes import ScriptedEngine
from tests.flows.run.test_core import answer, instruction


def usable(seed: int) -> bool:
    return (seed * 2654435761) % 10 < 3  # ~30 % of seeds, spread over every shard


def engine() -> ScriptedEngine:
    """Usable seeds get a real question; the rest a one-word instruction Magpie rejects."""
    return ScriptedEngine(
        lambda p, sp: instruction(sp.seed) if usable(sp.seed) else "Hi",
        lambda messages, sp: answer(messages[-1]["content"]),
    )


def config(target: int, n: int = 10, **extra) -> PipelineConfig:
    data = {
        "dataset": "target",
        "shard_size": 4,
        "target_rows": target,
        "sources": [{"kind": "magpie", "magpie": {"n": n}}],
        "heuristics": None,
        **extra,
    }
    return parse_config(PipelineConfig, data, "test")


def run(tmp_path, cfg: PipelineConfig, tag: str = ""):
    e = engine()
    (version,) = run_in_process(PipelineRun(cfg, tmp_path, tag, "r", engine_factory=lambda c: e))
    return version


def test_exactly_n_rows_in_several_rounds_and_the_same_on_a_fresh_run(tmp_path):
    first = run(tmp_path / "a", config(12))
    m = first.manifest()
    assert m.rows == 12
    target = m.config["target"]
    assert target["reached"] and target["rounds"] >= 2 and target["passing"] >= 12
    stages = {s.name: s for s in m.stages}
    assert stages["target"].rows_out == 12 and stages["target"].rejected == target["passing"] - 12
    assert stages["magpie"].rows_in == target["attempts"]
    rejects = first.read("rejects").to_pylist()
    assert {r["reason"] for r in rejects if r["stage"] == "target"} <= {"over_target"}
    assert stages["magpie"].rows_in == m.rows + len(rejects)  # every attempt once: a row or a reject
    second = run(tmp_path / "b", config(12))
    assert first.read().column("id").to_pylist() == second.read().column("id").to_pylist()


def test_rerun_is_already_published(tmp_path):
    v = run(tmp_path, config(6))
    e = engine()
    again = run_in_process(PipelineRun(config(6), tmp_path, "", "r2", engine_factory=lambda c: e))
    assert [x.ref for x in again] == [v.ref] and e.calls == []  # found by its run key before any work


def test_max_attempts_reached_publishes_what_passed(tmp_path):
    v = run(tmp_path, config(50, n=10, max_attempts=30))
    target = v.manifest().config["target"]
    assert not target["reached"] and target["attempts"] <= 30 + 10 and v.manifest().rows == target["passing"] < 50


def test_next_attempts_and_scaling_are_pure():
    cfg = config(10, n=20)
    assert next_attempts(cfg, passing=10, attempts=40) == 0
    assert next_attempts(cfg, passing=5, attempts=20) == 24  # 5 missing at 25 % yield: 20, +20 %
    assert next_attempts(cfg, passing=0, attempts=20) == 180  # nothing yet: capped by 20 x N - 20
    assert scaled(cfg, 12, 20).sources[0].magpie.n == 12


def test_target_rows_refuses_a_dataset_source():
    with pytest.raises(ConfigError, match="target_rows needs generating sources"):
        parse_config(
            PipelineConfig, {"dataset": "d", "target_rows": 3, "sources": [{"kind": "dataset", "ref": "x"}]}, "t"
        )


def test_per_source_targets_give_each_source_exactly_its_rows(tmp_path):
    cfg = config(
        None,
        target_rows=None,
        sources=[
            {"kind": "magpie", "name": "a", "target_rows": 5, "magpie": {"n": 8}},
            {"kind": "magpie", "name": "b", "target_rows": 2, "magpie": {"n": 8, "seed": 1000}},
        ],
    )
    v = run(tmp_path, cfg)
    m = v.manifest()
    target = m.config["target"]
    assert target["reached"] and target["rounds"] >= 2
    assert target["published_by_source"] == {"a": 5, "b": 2} and m.rows == 7
    assert {s: target["by_source"][s]["target"] for s in "ab"} == {"a": 5, "b": 2}
    stages = {s.name: s for s in m.stages}
    assert stages["a"].rows_in + stages["b"].rows_in == m.rows + m.rejects  # every attempt once


def test_a_target_for_the_pipeline_and_for_a_source_is_refused():
    with pytest.raises(ConfigError, match="not both"):
        config(6, sources=[{"kind": "magpie", "target_rows": 3}])
