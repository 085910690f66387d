"""The pipeline DAG's plain steps (no Prefect): sharding, checkpoints, resume, idempotent publish,
manifest counts. A scripted engine stands in for the model."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from flows.run.checkpoints import Checkpoints
from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun
from flows.run.finish import publish_run, published_refs
from flows.store import DatasetStore
from flows.store.tempdirs import host_tag, temp_name
from schemas.config import parse_config
from schemas.errors import ConfigError
from tests.fakes import ScriptedEngine, informed_verdict


def verdict(quality: int) -> str:
    return json.dumps({"quality": quality, "difficulty": "easy", "category": "other", "rationale": "fine"})


def is_judge_prompt(messages) -> bool:
    """The rubric template (generators/prompts/judge_rubric.jinja) holds the row under these headers."""
    text = messages[-1]["content"]
    return "### Request" in text and "### Reply" in text and '"quality"' in text


TOPICS = [
    "river",
    "glacier",
    "volcano",
    "orchard",
    "harbor",
    "bridge",
    "engine",
    "violin",
    "compiler",
    "garden",
    "market",
    "telescope",
    "bakery",
    "satellite",
    "forest",
    "library",
    "castle",
    "battery",
    "magnet",
    "canyon",
    "desert",
    "comet",
    "lantern",
    "meadow",
    "quarry",
    "piano",
    "tunnel",
    "compass",
    "ferry",
    "island",
    "tractor",
    "beehive",
    "kettle",
    "lighthouse",
    "mosaic",
    "glacier",
    "parrot",
    "saddle",
    "vineyard",
    "windmill",
]


def instruction(seed: int) -> str:
    """Distinct questions per seed (no near-duplicates among them), naming the seed for the judge."""
    words = " ".join(random.Random(seed).sample(TOPICS, 8))
    return f"How do {words} relate? (case {seed})"


def answer(question: str) -> str:
    return "They relate like this: " + " then ".join(reversed(question.split()[2:-3])) + "."


def case(text: str) -> int:
    return int(re.search(r"\(case (\d+)\)", text).group(1))


def engine() -> ScriptedEngine:
    """The judge gives rows with an even seed 4 and rows with an odd seed 2."""

    def on_chat(messages, params):
        if is_judge_prompt(messages):
            known = informed_verdict(messages[-1]["content"])  # the gate's calibration rows: a judge that passes
            return known or verdict(2 if case(messages[-1]["content"]) % 2 else 4)
        return answer(messages[-1]["content"])

    return ScriptedEngine(lambda p, sp: instruction(sp.seed), on_chat)


def config(**extra) -> PipelineConfig:
    data = {"dataset": "daily", "shard_size": 4, "sources": [{"kind": "magpie", "magpie": {"n": 10}}], **extra}
    return parse_config(PipelineConfig, data, "test")


def run_all(run: PipelineRun):
    plan = run.plan()
    outs = []
    for shard in plan.shards:
        outs.append(run.shard(shard))
    return plan, outs, publish_run(run, plan, outs, run.run_key(plan))


def make_run(tmp_path: Path, cfg: PipelineConfig, scripted: ScriptedEngine | None = None, tag: str = "") -> PipelineRun:
    e = scripted or engine()
    return PipelineRun(cfg, tmp_path, tag, "run-1", engine_factory=lambda c: e)


def test_magpie_is_cut_into_shards_with_the_unsharded_seeds(tmp_path):
    plan = make_run(tmp_path, config()).plan()
    assert [s.label for s in plan.shards] == ["magpie[1/3]", "magpie[2/3]", "magpie[3/3]"]
    assert [s.inputs.column("seed").to_pylist() for s in plan.shards] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
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
    assert names == ["magpie", "judge", "heuristics", "judge_threshold", "merge", "dedup"]
    for s in m.stages:
        assert s.rows_in == s.rows_out + s.rejected
    assert m.stages[0].rows_in == 10
    assert m.rows == v.read().num_rows and m.rejects == v.read("rejects").num_rows
    assert m.rows + m.rejects == 10  # every conversation is a row or a reject, once
    reasons = v.read("rejects").column("reason").to_pylist()
    assert m.rows > 0 and set(v.read().column("judge_quality").to_pylist()) == {4}  # real verdicts, kept
    assert "low_judge_score" in reasons and "judge_invalid_json" not in reasons  # the default min 3 dropped the 2s
    by_stage = {(r["stage"], r["reason"]) for r in v.read("rejects").to_pylist()}
    assert ("judge_threshold", "low_judge_score") in by_stage  # its own stage: heuristics only do heuristics
    assert not any(stage == "heuristics" and reason == "low_judge_score" for stage, reason in by_stage)
    assert m.config["run_key"] and m.config["pipeline"]["dataset"] == "daily"
    assert not list(v.path.parent.glob(".tmp-*"))  # the finish's spill files went with the publish


def test_a_judge_threshold_drops_the_low_scored_rows_and_none_keeps_them(tmp_path):
    _, _, (v,) = run_all(make_run(tmp_path, config(judge={}, heuristics={"min_judge_score": 3}, dedup=None)))
    rows, rejects = v.read(), v.read("rejects")
    assert rows.num_rows > 0 and all(case(text) % 2 == 0 for text in rows.column("instruction").to_pylist())
    reasons = rejects.column("reason").to_pylist()
    assert reasons and set(reasons) == {"low_judge_score"} and rows.num_rows + rejects.num_rows == 10
    _, _, (kept,) = run_all(
        make_run(tmp_path / "b", config(judge={}, heuristics={"min_judge_score": None}, dedup=None))
    )
    assert set(kept.read().column("judge_quality").to_pylist()) == {2, 4}


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
    run.shard(plan.shards[0])
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


def counting_engine() -> ScriptedEngine:
    """Instructions by call order, not by seed: every run asks the same ten questions."""
    asked = iter(range(1000))
    return ScriptedEngine(
        lambda p, sp: instruction(next(asked) % 10),
        lambda m, sp: answer(m[-1]["content"]),
    )


def test_dedup_runs_against_earlier_versions(tmp_path):
    _, _, (v1,) = run_all(make_run(tmp_path, config(), counting_engine()))
    assert v1.manifest().rows == 10
    _, _, (v2,) = run_all(make_run(tmp_path, config(), engine(), tag="second"))
    assert v2.manifest().parent_versions == ["daily@v1"] and v2.manifest().rows == 10  # new seeds, new rows
    _, _, (v3,) = run_all(make_run(tmp_path, config(), counting_engine(), tag="third"))
    rejects = v3.read("rejects").column("reason").to_pylist()
    assert v3.manifest().rows == 0 and len(rejects) == 10  # v1 asked all ten already
    assert all("dup" in r for r in rejects), rejects


def test_checkpoint_temp_dirs_of_dead_writers_are_cleaned_and_live_ones_kept(tmp_path):
    ck = Checkpoints(tmp_path, "daily")
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = ck.dir / "magpie" / temp_name()  # this process: a writer still at work
    gone = ck.dir / "magpie" / f".tmp-{host_tag()}-{dead.pid}-0123456789abcdef"
    for d in (live, gone):
        (d / "rows.parquet").parent.mkdir(parents=True)
        (d / "rows.parquet").write_bytes(b"half a file")
    assert ck.get("magpie", "nokey") is None  # readers never see temp dirs
    assert ck.gc_temp() == 1
    assert live.is_dir() and not gone.exists()


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
    out = run.step("judge", run.generate(plan.shards[0]))
    assert out.rows == 0 and len(made) == 1  # generation asked for an engine; the judge did not
