"""The pipeline DAG's plain steps (no Prefect): sharding, checkpoints, resume, idempotent publish,
manifest counts. A scripted engine stands in for the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.checkpoints import Checkpoints
from flows.pipeline_config import PipelineConfig
from flows.pipeline_finish import publish_run, published_refs
from flows.pipeline_run import PipelineRun
from flows.store import DatasetStore
from schemas.config import parse_config
from schemas.errors import ConfigError
from tests.fakes import ScriptedEngine

VERDICT = json.dumps({"quality": 4, "difficulty": "easy", "category": "other", "rationale": "fine"})


def engine() -> ScriptedEngine:
    def on_chat(messages, params):
        if "quality" in messages[-1]["content"] and "rubric" in json.dumps(messages).lower():
            return VERDICT
        return f"An answer about {messages[-1]['content'][:40]} that is long enough to keep."

    return ScriptedEngine(lambda p, sp: f"How does thing {sp.seed} work in practice?", on_chat)


def config(**extra) -> PipelineConfig:
    data = {"dataset": "daily", "shard_size": 4, "sources": [{"kind": "magpie", "magpie": {"n": 10}}], **extra}
    return parse_config(PipelineConfig, data, "test")


def run_all(run: PipelineRun):
    plan = run.plan()
    outs = []
    for shard in plan.shards:
        outs.append(run.heuristics(run.judge(run.generate(shard))))
    return plan, outs, publish_run(run, plan, outs, run.run_key(plan))


def make_run(tmp_path: Path, cfg: PipelineConfig, scripted: ScriptedEngine | None = None, tag: str = "") -> PipelineRun:
    e = scripted or engine()
    return PipelineRun(cfg, tmp_path, tag, "run-1", engine_factory=lambda c: e)


def test_magpie_is_cut_into_shards_with_the_unsharded_seeds(tmp_path):
    plan = make_run(tmp_path, config()).plan()
    assert [s.label for s in plan.shards] == ["magpie[1/3]", "magpie[2/3]", "magpie[3/3]"]
    assert [(s.payload.n, s.payload.seed) for s in plan.shards] == [(4, 0), (4, 4), (2, 8)]
    assert len({s.key for s in plan.shards}) == 3


def test_a_tag_moves_seeds_and_keys_but_a_rerun_keeps_them(tmp_path):
    a, b = make_run(tmp_path, config()).plan(), make_run(tmp_path, config()).plan()
    tagged = make_run(tmp_path, config(), tag="2026-11-23T03:00").plan()
    assert [s.key for s in a.shards] == [s.key for s in b.shards]
    assert not {s.key for s in a.shards} & {s.key for s in tagged.shards}


def test_publishes_one_version_whose_stages_add_up(tmp_path):
    run = make_run(tmp_path, config(judge={}))
    _, _, versions = run_all(run)
    (v,) = versions
    m = v.manifest()
    names = [s.name for s in m.stages]
    assert names == ["magpie", "judge", "heuristics", "merge", "dedup"]
    for s in m.stages:
        assert s.rows_in == s.rows_out + s.rejected
    assert m.stages[0].rows_in == 10
    assert m.rows == v.read().num_rows and m.rejects == v.read("rejects").num_rows
    assert m.rows + m.rejects == 10  # every conversation is a row or a reject, once
    assert "judge_quality" in v.read().column_names
    assert m.config["run_key"] and m.config["pipeline"]["dataset"] == "daily"


def test_a_second_run_of_the_same_config_loads_checkpoints_and_does_not_republish(tmp_path):
    first = engine()
    run_all(make_run(tmp_path, config(), first))
    calls_first = len(first.calls)
    again = engine()
    _, outs, versions = run_all(make_run(tmp_path, config(), again))
    assert again.calls == [] and calls_first > 0
    assert all(o.cached for o in outs)
    assert [v.ref for v in versions] == ["daily@v1"]
    assert [v.ref for v in DatasetStore(tmp_path).versions("daily")] == ["daily@v1"]


def test_resume_after_losing_the_middle_runs_only_what_is_missing(tmp_path):
    """As after a kill: shard 1 finished, shard 2 generated but not filtered, shard 3 not started."""
    run = make_run(tmp_path, config())
    plan = run.plan()
    run.heuristics(run.judge(run.generate(plan.shards[0])))
    run.generate(plan.shards[1])
    e = engine()
    _, outs, (v,) = run_all(make_run(tmp_path, config(), e))
    assert [o.cached for o in outs] == [True, False, False]
    assert e.calls.count(("complete", 4)) == 0 and ("complete", 2) in e.calls  # only shard 3 generated
    rows, rejects = v.read(), v.read("rejects")
    seeds = rows.column("seed").to_pylist() + rejects.column("seed").to_pylist()
    assert sorted(seeds) == list(range(10))  # nothing lost, nothing twice


def test_changing_only_the_judge_reuses_generation(tmp_path):
    run_all(make_run(tmp_path, config(judge={})))
    e = engine()
    plan, _, _ = run_all(make_run(tmp_path, config(judge={"sampling": {"max_tokens": 200}}), e))
    assert all(call[0] == "chat" for call in e.calls)  # the judge ran again, Magpie did not
    assert published_refs(make_run(tmp_path, config(judge={})), make_run(tmp_path, config(judge={})).run_key(plan))


def test_dedup_runs_against_earlier_versions(tmp_path):
    run_all(make_run(tmp_path, config()))
    _, _, (v2,) = run_all(make_run(tmp_path, config(), tag="second"))
    # the scripted instructions only depend on the seed, so a new tag gives new rows...
    assert v2.manifest().parent_versions == ["daily@v1"]
    _, _, (v3,) = run_all(make_run(tmp_path, config(), tag="third-but-same-seeds"))
    assert v3.manifest().rows <= 10


def test_checkpoints_are_atomic_and_stale_temp_dirs_are_cleaned(tmp_path):
    ck = Checkpoints(tmp_path, "daily")
    (ck.dir / "magpie" / ".tmp-dead").mkdir(parents=True)
    assert ck.get("magpie", "nokey") is None
    assert ck.gc_temp() == 1


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"sources\.0\.magpie\.nn"):
        parse_config(PipelineConfig, {"dataset": "d", "sources": [{"kind": "magpie", "magpie": {"nn": 3}}]}, "p.yaml")
    with pytest.raises(ConfigError, match="share the name"):
        config(sources=[{"kind": "magpie"}, {"kind": "magpie"}])
    with pytest.raises(ConfigError, match="invalid dataset name"):
        config(dataset="Bad-Name")


def test_an_empty_shard_is_not_sent_to_the_judge_model(tmp_path):
    refusing = ScriptedEngine(lambda p, sp: "x", lambda m, sp: "y")  # "x": too short, every row rejected
    made = []

    def factory(cfg):
        made.append(cfg)
        return refusing

    run = PipelineRun(config(judge={}), tmp_path, "", "r", engine_factory=factory)
    plan = run.plan()
    out = run.judge(run.generate(plan.shards[0]))
    assert out.rows == 0 and len(made) == 1  # generation asked for an engine; the judge did not
