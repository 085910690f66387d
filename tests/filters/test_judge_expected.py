"""Expected scores from logprobs (G-Eval style): pure functions over a Completion."""

from __future__ import annotations

import math

import pytest

from filters.judge_expected import expected_score, score_distribution
from schemas.engine import Completion, TokenLogprobs


def tok(text: str, **alts: float) -> TokenLogprobs:
    return TokenLogprobs(text, {k.replace("_", " "): math.log(v) for k, v in alts.items()})


def completion(*tokens: TokenLogprobs) -> Completion:
    return Completion("".join(t.text for t in tokens), "stop", 10, len(tokens), logprobs=tokens)


def digits(**p: float) -> dict[str, float]:
    return {k[1:]: v for k, v in p.items()}


def test_the_expectation_weighs_every_score_token():
    top = {"1": math.log(0.5), "4": math.log(0.3), "5": math.log(0.2)}
    c = completion(tok('{"quality": '), TokenLogprobs("1", top), tok(', "difficulty": "easy"}'))
    assert expected_score(c) == pytest.approx(0.5 * 1 + 0.3 * 4 + 0.2 * 5)
    assert score_distribution(c) == pytest.approx({"1": 0.5, "4": 0.3, "5": 0.2})


def test_a_digit_sharing_its_token_with_a_leading_space_or_quote():
    top = {" 2": math.log(0.25), " 3": math.log(0.75), " x": math.log(0.5)}  # non-scores are ignored
    c = completion(tok('{"quality":'), TokenLogprobs(" 3", top), tok("}"))
    assert expected_score(c) == pytest.approx(0.25 * 2 + 0.75 * 3)


def test_alternatives_are_renormalised_over_the_scores_only():
    top = {"4": math.log(0.2), "5": math.log(0.2), "{": math.log(0.6)}
    c = completion(tok('{"quality": '), TokenLogprobs("4", top), tok("}"))
    assert expected_score(c) == pytest.approx(4.5)


def test_no_logprobs_or_no_field_gives_none():
    assert expected_score(Completion('{"quality": 4}', "stop", 1, 1)) is None
    c = completion(tok('{"difficulty": '), TokenLogprobs("4", {"4": 0.0}), tok("}"))
    assert expected_score(c) is None


def test_the_rubric_judge_writes_the_expected_score_and_asks_for_logprobs():
    import json

    import pyarrow as pa

    from filters.judge import JudgeConfig, RubricJudge
    from schemas.stage import context
    from tests.fakes import ScriptedEngine

    text = json.dumps({"quality": 1, "difficulty": "easy", "category": "other", "rationale": "x"})
    head = text[: text.index("1")]
    top = {"1": math.log(0.5), "5": math.log(0.5)}
    tokens = (TokenLogprobs(head, {}), TokenLogprobs("1", top), TokenLogprobs(text[len(head) + 1 :], {}))
    asked = []

    def on_chat(messages, sp):
        asked.append(sp.logprobs)
        return Completion(text, "stop", 5, 3, logprobs=tokens)

    table = pa.table({"instruction": ["What is 2+2?"], "response": ["4"]})
    engine = ScriptedEngine(lambda p, sp: "", on_chat)
    expected = RubricJudge(config=JudgeConfig()).run(table, context("judge", engine)).rows
    assert expected.column("judge_score").to_pylist() == [3.0] and expected.column("judge_quality").to_pylist() == [1]
    sampled = RubricJudge(config=JudgeConfig(scoring="sampled")).run(table, context("judge", engine)).rows
    assert sampled.column("judge_score").to_pylist() == [1.0]
    assert asked == [5, None]  # top-5 logprobs only when scoring by expectation
