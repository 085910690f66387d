"""Bootstrap intervals and the NLL math, without any model."""

import math

import numpy as np
import pytest
import torch

from flows.evals.scoring import IGNORE, _batches, token_nll
from flows.evals.stats import bootstrap_delta, bootstrap_mean


def test_bootstrap_interval_contains_the_mean_and_is_seeded():
    values = [0.0, 1.0] * 50
    est = bootstrap_mean(values)
    assert est.value == 0.5 and est.n == 100
    assert 0.38 < est.ci_low < 0.5 < est.ci_high < 0.62  # ~ mean +- 1.96 * 0.05
    noisy = np.random.default_rng(3).normal(0, 1, 50).tolist()
    assert bootstrap_mean(noisy) == bootstrap_mean(noisy) and bootstrap_mean(noisy, seed=1) != bootstrap_mean(noisy)


def test_bootstrap_edge_cases():
    assert bootstrap_mean([2.0] * 10).ci_low == bootstrap_mean([2.0] * 10).ci_high == 2.0
    one = bootstrap_mean([3.0])
    assert (one.value, one.ci_low, one.ci_high, one.n) == (3.0, 3.0, 3.0, 1)
    assert math.isnan(bootstrap_mean([]).value) and bootstrap_mean([]).n == 0


def test_paired_delta_is_tighter_than_unpaired_difference():
    rng = np.random.default_rng(0)
    before = rng.normal(2.0, 1.0, 200)
    after = before - 0.1 + rng.normal(0, 0.05, 200)  # every item improves a little; items vary a lot
    delta = bootstrap_delta(after, before)
    assert delta.value == pytest.approx(-0.1, abs=0.01) and delta.ci_high < 0  # paired: clearly below 0
    assert bootstrap_mean(after).overlaps(bootstrap_mean(before))  # the two means alone overlap
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_delta([1.0], [1.0, 2.0])


def test_token_nll_counts_only_labeled_tokens():
    vocab = 8
    logits = torch.zeros(2, 4, vocab)  # uniform: every token costs log(vocab)
    labels = torch.tensor([[IGNORE, 3, 4, IGNORE], [IGNORE, IGNORE, 5, 6]])
    sums, counts = token_nll(logits, labels)
    assert counts.tolist() == [2, 2]
    assert sums.tolist() == pytest.approx([2 * math.log(vocab)] * 2)


def test_token_nll_uses_the_previous_position_to_predict():
    logits = torch.full((1, 3, 4), -1e4)
    logits[0, 0, 2] = 0.0  # position 0 is sure the next token is 2
    logits[0, 1, 1] = 0.0  # position 1 is sure the next token is 1
    sums, counts = token_nll(logits, torch.tensor([[IGNORE, 2, 3]]))
    assert counts.item() == 2
    assert sums.item() == pytest.approx(1e4, rel=1e-3)  # token 2: free; token 3 against certainty of 1: ~1e4


def test_batches_stay_within_the_token_budget():
    lengths = [100, 30, 60, 90, 10]
    batches = list(_batches(lengths, budget=200))
    assert sorted(i for b in batches for i in b) == list(range(5))
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 200 or len(b) == 1


def test_mismatched_pairs_give_every_instruction_another_items_reference():
    from flows.evals.scoring import mismatched

    pairs = [(f"q{i}", f"a{i}") for i in range(6)]
    assert mismatched(pairs) == [("q0", "a3"), ("q1", "a4"), ("q2", "a5"), ("q3", "a0"), ("q4", "a1"), ("q5", "a2")]
    assert mismatched([("q", "a")]) == [("q", "a")] and mismatched([]) == []


def test_clean_answers_are_the_ones_that_ended_and_pass_the_heuristics():
    from flows.evals.runner import clean_answers

    prompts = ["Explain why the sky is blue."] * 4
    outputs = [
        "Sunlight scatters off air molecules, and blue light scatters the most, so the sky looks blue.",
        "Sunlight scatters off air molecules, and blue light scatters the most, so the sky looks",  # hit the cap
        "I'm sorry, but as an AI language model I cannot help with that request.",
        "Le ciel est bleu parce que la lumière bleue est diffusée davantage par l'air.",  # any language counts
    ]
    assert clean_answers(prompts, outputs, [True, False, True, True]) == [1.0, 0.0, 0.0, 1.0]
