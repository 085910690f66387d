"""`--estimate`: a pilot (the first shard of each source, checkpointed) projects the run's tokens,
time, rows and cost; the real run then reuses the pilot's checkpoints. Scripted engine, in process."""

from __future__ import annotations

import pytest

from flows.run.core import PipelineRun
from flows.run.estimate import estimate, pilot_plan
from flows.run.order import run_in_process
from tests.fakes import ScriptedEngine
from tests.flows.run.test_budget import config
from tests.flows.run.test_core import answer, instruction
from tests.flows.run.test_rounds import engine


def test_the_pilot_projects_the_whole_run_and_its_shards_are_reused(tmp_path):
    cfg = config(None, sources=[{"kind": "magpie", "magpie": {"n": 40}}])
    e = ScriptedEngine(lambda p, sp: instruction(sp.seed), lambda messages, sp: answer(messages[-1]["content"]))
    found = estimate(PipelineRun(cfg, tmp_path, "", "est", engine_factory=lambda c: e))
    assert found["pilot"]["shards"] == 1 and found["pilot"]["attempts"] == 4
    assert [k for k, _ in e.calls] == ["complete", "chat"]  # one shard: its instructions, its responses
    proj = found["projection"]
    assert proj["attempts"] == 40 and proj["usd"] > 0
    (version,) = run_in_process(PipelineRun(cfg, tmp_path, "", "real", engine_factory=lambda c: e))
    assert [k for k, _ in e.calls].count("complete") == 10  # 1 + 9 shards: the pilot's came from its checkpoint
    ledger = version.manifest().ledger
    assert proj["completion_tokens"] == pytest.approx(ledger["completion_tokens"], rel=0.25)
    assert proj["prompt_tokens"] == pytest.approx(ledger["prompt_tokens"], rel=0.25)
    assert proj["usd"] == pytest.approx(ledger["cost_usd"], rel=0.25)


def test_with_target_rows_it_projects_the_attempts_the_yield_needs(tmp_path):
    cfg = config(None, target_rows=30, sources=[{"kind": "magpie", "magpie": {"n": 8}}])
    found = estimate(PipelineRun(cfg, tmp_path, "", "est", engine_factory=lambda c: engine()))
    (source,) = found["sources"]
    assert 0 < source["yield"] < 1
    proj = found["projection"]
    assert proj["target_rows"] == 30 and proj["rows"] == 30
    assert proj["attempts"] == pytest.approx(30 / source["yield"], rel=0.01)


def test_pilot_plan_takes_the_first_shards_of_every_source(tmp_path):
    cfg = config(
        None, sources=[{"kind": "magpie", "magpie": {"n": 12}}, {"kind": "magpie", "name": "b", "magpie": {"n": 8}}]
    )
    plan = PipelineRun(cfg, tmp_path).plan()
    pilot = pilot_plan(plan, 2)
    assert [s.label for s in pilot.shards] == ["magpie[1/3]", "magpie[2/3]", "b[1/2]", "b[2/2]"]


def test_per_source_targets_are_projected_per_source(tmp_path):
    sources = [
        {"kind": "magpie", "name": "a", "target_rows": 20, "magpie": {"n": 8}},
        {"kind": "magpie", "name": "b", "magpie": {"n": 8, "seed": 500}},
    ]
    found = estimate(PipelineRun(config(None, sources=sources), tmp_path, "", "e", engine_factory=lambda c: engine()))
    a, _ = found["sources"]
    proj = found["projection"]
    assert proj["target_rows"] == {"a": 20}
    assert proj["attempts"] == pytest.approx(20 / a["yield"] + 8, rel=0.05)  # b: its 8, as planned
    fast, slow = proj["seconds"]
    assert 0 <= fast <= slow
