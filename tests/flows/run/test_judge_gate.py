"""The judge gate: a run that filters on judge scores calibrates the judge first, stops (or keeps the
scores unfiltered, as configured) when the judge cannot tell good rows from bad, and records the
report in the manifest and the card. Also `synthloom judge calibrate`. Scripted judges, no model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.report import write_card
from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun
from flows.run.finish import publish_run
from schemas.config import parse_config
from schemas.errors import JudgeNotCalibratedError
from tests.fakes import ScriptedEngine, informed_verdict

VERDICT_1 = json.dumps({"quality": 1, "difficulty": "easy", "category": "other", "rationale": "x"})


WORDS = "kettle harbor violin quarry lantern meadow compass ferry orchard glacier piano tunnel comet".split()  # noqa: SIM905


def question(seed: int) -> str:
    """A distinct question per seed (no near-duplicates among them)."""
    return f"How do {' '.join(random.Random(seed).sample(WORDS, 7))} fit together?"


def flat_engine() -> ScriptedEngine:
    """Answers every question and scores every row 1, like the embedded 135M judge."""
    return ScriptedEngine(
        lambda p, sp: question(sp.seed),
        lambda m, sp: VERDICT_1 if "### Reply" in m[-1]["content"] else "A helpful and complete answer to it.",
    )


def informed_engine() -> ScriptedEngine:
    e = flat_engine()
    flat = e.on_chat
    e.on_chat = lambda m, sp: informed_verdict(m[-1]["content"]) or flat(m, sp)
    return e


def flat_factory(cfg):  # SYNTHLOOM_ENGINE_FACTORY targets
    return flat_engine()


def informed_factory(cfg):
    return informed_engine()


def config(**judge) -> PipelineConfig:
    source = {"kind": "magpie", "magpie": {"n": 4}}
    data = {"dataset": "gated", "shard_size": 4, "sources": [source], "judge": judge, "dedup": None}
    return parse_config(PipelineConfig, data, "test")


def run_for(tmp_path: Path, cfg: PipelineConfig, engine: ScriptedEngine) -> PipelineRun:
    return PipelineRun(cfg, tmp_path, "", "r", engine_factory=lambda c: engine)


def run_all(run: PipelineRun):
    plan = run.plan()
    outs = [run.shard(s) for s in plan.shards]
    return publish_run(run, plan, outs, run.run_key(plan))


def test_a_failing_judge_stops_the_run_before_any_generation(tmp_path):
    e = flat_engine()
    with pytest.raises(JudgeNotCalibratedError) as err:
        run_for(tmp_path, config(), e).gated()
    msg = str(err.value)
    assert "ROC AUC 0.50" in msg and "floor 0.75" in msg and "on_fail: keep_unfiltered" in msg
    assert "\n" not in msg and all(kind == "chat" for kind, _ in e.calls)  # calibration only, no Magpie


def test_keep_unfiltered_publishes_the_scores_without_the_threshold_and_says_so(tmp_path):
    run, result = run_for(tmp_path, config(calibration={"on_fail": "keep_unfiltered"}), flat_engine()).gated()
    assert result is not None and not result.filter_on_scores and "NOT used to filter" in result.note()
    (v,) = run_all(run)
    assert v.read().num_rows == 4 and set(v.read().column("judge_quality").to_pylist()) == {1}
    entry = v.manifest().config["judge_calibration"]
    assert entry["passed"] is False and entry["filtered_on_scores"] is False and entry["auc"] == 0.5
    card = write_card(v).read_text()
    assert "## Judge calibration" in card and "not used to filter" in card and "judge_calibration.png" in card


def test_a_passing_judge_filters_and_its_report_is_cached(tmp_path):
    e = informed_engine()
    run, result = run_for(tmp_path, config(), e).gated()
    assert result is not None and result.filter_on_scores and not result.cached and run.judge_filter
    (v,) = run_all(run)
    assert v.read().num_rows == 0 and set(v.read("rejects").column("reason").to_pylist()) == {"low_judge_score"}
    assert v.manifest().config["judge_calibration"]["passed"] is True
    again = informed_engine()
    _, second = run_for(tmp_path, config(), again).gated()
    assert second is not None and second.cached and again.calls == []


def test_no_threshold_no_calibration(tmp_path):
    cfg = parse_config(
        PipelineConfig,
        {"dataset": "g", "sources": [{"kind": "magpie"}], "judge": {}, "heuristics": {"min_judge_score": None}},
        "t",
    )
    e = flat_engine()
    run, result = run_for(tmp_path, cfg, e).gated()
    assert result is None and e.calls == [] and run.calibration is None


def test_cli_judge_calibrate_prints_the_report_and_exits_by_the_floor(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("SYNTHLOOM_ENGINE_FACTORY", f"{__name__}:flat_factory")
    res = runner.invoke(app, ["judge", "calibrate", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1, res.output
    assert "FAILS calibration" in res.output and "refusal" in res.output and "good rows" in res.output
    plot = Path(res.output.split("plot: ")[1].split()[0])
    assert plot.is_file() and plot.read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setenv("SYNTHLOOM_ENGINE_FACTORY", f"{__name__}:informed_factory")
    res = runner.invoke(app, ["judge", "calibrate", "--data-dir", str(tmp_path / "b")])
    assert res.exit_code == 0 and "passes calibration" in res.output and "ROC AUC 1.00" in res.output
