import json

import pytest

from filters.judge import PairVerdict, PairwiseJudge, RubricJudge, RubricVerdict, parse_verdict
from schemas.engine import Completion
from schemas.result import Reject
from schemas.stage import context
from tests.fakes import ScriptedEngine
from tests.flows.helpers import stage_result

GOOD = json.dumps({"quality": 4, "difficulty": "easy", "category": "information", "rationale": "correct"})


def rows(n: int):
    return stage_result([f"question {i}?" for i in range(n)], rejected=0).rows


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        (Completion('{"quality": 4, "difficulty": "ea', "length", 1, 160), "judge_truncated"),
        (Completion("The answer is good, 5/5", "stop", 1, 8), "judge_invalid_json"),
        (
            Completion('{"quality": 9, "difficulty": "easy", "category": "math", "rationale": ""}', "stop", 1, 9),
            "judge_schema_mismatch",
        ),
        (Completion('{"quality": 3}', "stop", 1, 4), "judge_schema_mismatch"),
        (Completion("\x00\xff junk", "stop", 1, 3), "judge_invalid_json"),
    ],
)
def test_junk_verdicts_become_rejects_with_raw_text(completion, reason):
    out = parse_verdict(completion, RubricVerdict)
    assert isinstance(out, Reject) and out.reason == reason and out.raw_text == completion.text


def test_rubric_scores_are_columns_and_junk_is_rejected():
    answers = iter([GOOD, "not json", GOOD, Completion("{", "length", 1, 160)])
    engine = ScriptedEngine(lambda p, sp: "", lambda m, sp: next(answers))
    result = RubricJudge().run(rows(4), context("judge", engine))
    assert result.stats.rows_in == 4 and result.stats.rows_out == 2 and result.stats.rejected == 2
    kept = result.rows.to_pylist()
    assert kept[0]["judge_quality"] == 4 and kept[0]["judge_category"] == "information"
    assert kept[0]["judge_rubric"] == "judge_rubric" and len(kept[0]["judge_rubric_hash"]) == 16
    assert kept[0]["judge_model"] == "scripted" and kept[0]["judge_raw"] == GOOD
    rej = result.rejects.to_pylist()
    assert [r["reason"] for r in rej] == ["judge_invalid_json", "judge_truncated"]
    assert rej[0]["raw_text"] == "not json" and json.loads(rej[0]["record"])["instruction"] == "question 1?"
    schema = engine.json_schemas[0]
    assert schema["properties"]["quality"]["enum"] == [1, 2, 3, 4, 5]


def test_rubric_prompt_holds_the_row():
    judge = RubricJudge()
    msgs = judge.format_input({"instruction": "Why is the sky blue?", "response": "Rayleigh."}, judge.template())
    assert "Why is the sky blue?" in msgs[0]["content"] and "Rayleigh." in msgs[0]["content"]


def verdict(better: str) -> PairVerdict:
    return PairVerdict(better=better)


@pytest.mark.parametrize(
    ("ab", "ba", "expected"),
    [
        ("A", "B", 0),
        ("B", "A", 1),
        ("A", "A", "position_inconsistent"),
        ("B", "B", "position_inconsistent"),
        ("tie", "B", "judge_tie"),
    ],
)
def test_position_swap_keeps_only_consistent_verdicts(ab, ba, expected):
    out = PairwiseJudge.combine(verdict(ab), verdict(ba))
    assert (out.reason if isinstance(out, Reject) else out) == expected


def test_pairwise_builds_a_dpo_table():
    table = rows(3)
    table = table.append_column("candidates", [[["good", "bad"], ["x", "y"], ["only one"]]])
    script = {"good": "A", "bad": "B", "x": "A", "y": "A"}  # row 1: judge always says A -> inconsistent

    def on_chat(messages, sp):
        text = messages[0]["content"]
        first = text.split("### Reply A\n")[1].split("\n")[0]
        return json.dumps({"better": script[first] if first in ("good", "bad") else "A"})

    result = PairwiseJudge().run(table, context("pairwise", ScriptedEngine(lambda p, s: "", on_chat)))
    dpo = result.rows  # the kept rows are the DPO pairs
    assert dpo.num_rows == 1
    row = dpo.to_pylist()[0]
    assert (row["chosen"], row["rejected"], row["prompt"]) == ("good", "bad", "question 0?")
    assert row["parent_ids"] == [table.column("id")[0].as_py()]
    reasons = sorted(r["reason"] for r in result.rejects.to_pylist())
    assert reasons == ["fewer_than_2_candidates", "position_inconsistent"]
    assert result.stats.rows_in == 3 == result.stats.rows_out + result.stats.rejected
