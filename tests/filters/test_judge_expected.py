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
