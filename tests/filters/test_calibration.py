"""Judge calibration on the shipped labeled set, with scripted judges that pass and fail."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from filters.calibration import build_report, calibrate, load_set, roc_auc
from filters.judge import JudgeConfig, RubricJudge
from schemas.errors import ConfigError
from tests.fakes import ScriptedEngine, informed_verdict


def judge_engine(on_prompt) -> ScriptedEngine:
    return ScriptedEngine(lambda p, sp: "", lambda m, sp: on_prompt(m[-1]["content"]))


def constant(quality: int):
    return lambda prompt: json.dumps({"quality": quality, "difficulty": "easy", "category": "other", "rationale": "x"})


def test_the_shipped_set_has_good_rows_and_bad_rows_of_many_kinds():
    name, rows = load_set()
    kinds = Counter(r["kind"] for r in rows)
    assert name.startswith("shipped:") and kinds["good"] >= 20
    bad = {"refusal", "echo", "truncated", "looping", "wrong_language", "off_topic", "wrong_answer", "template_leak"}
    assert bad <= set(kinds) and all(kinds[k] >= 5 for k in bad)
    assert all(r["label"] == ("good" if r["kind"] == "good" else "bad") for r in rows)


def test_roc_auc():
    assert roc_auc([5, 4], [1, 2]) == 1.0
    assert roc_auc([1, 2], [5, 4]) == 0.0
    assert roc_auc([1, 1], [1, 1]) == 0.5  # a constant judge is chance


def test_an_informed_judge_passes_and_a_constant_judge_fails():
    judge = RubricJudge(config=JudgeConfig())
    good = calibrate(judge, judge_engine(informed_verdict), threshold=3)
    assert good.passed and good.auc == 1.0 and good.accuracy == 1.0 and good.invalid == 0
    assert good.confusion == {"bad_dropped": 40, "bad_kept": 0, "good_kept": 24, "good_dropped": 0}
    flat = calibrate(judge, judge_engine(constant(1)), threshold=3)
    assert not flat.passed and flat.auc == 0.5 and flat.confusion["good_dropped"] == 24
    assert "FAILS" in flat.headline() and "0.50" in flat.headline()
    kinds = {k.kind: k for k in flat.per_kind}
    assert kinds["refusal"].dropped == 1.0 and kinds["good"].mean_score == 1.0


def test_junk_verdicts_count_as_unparseable_not_as_a_crash():
    report = calibrate(RubricJudge(config=JudgeConfig()), judge_engine(lambda p: "1.1.1.1"), threshold=3)
    assert report.invalid == len(report.scores) and report.auc == 0.5 and "unparseable" in report.table()


def test_a_custom_set_is_checked(tmp_path):
    bad = tmp_path / "set.jsonl"
    bad.write_text('{"instruction": "q", "response": "a", "label": "meh"}\n')
    with pytest.raises(ConfigError, match=r"line 1: needs instruction, response and label"):
        load_set(bad)
    only_good = tmp_path / "good.jsonl"
    only_good.write_text('{"instruction": "q", "response": "a", "label": "good"}\n')
    with pytest.raises(ConfigError, match="needs both good and bad"):
        load_set(only_good)


def test_report_per_kind_and_table():
    rows = [
        {"instruction": "q1", "response": "a", "label": "good", "kind": "good"},
        {"instruction": "q2", "response": "b", "label": "bad", "kind": "echo"},
    ]
    report = build_report(RubricJudge(config=JudgeConfig()), "m", "s", rows, [4.2, 1.5], threshold=3)
    assert report.auc == 1.0 and [k.kind for k in report.per_kind] == ["good", "echo"]
    assert "echo" in report.table() and report.passed
