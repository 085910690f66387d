"""Score by expectation (G-Eval style): instead of the one digit the judge sampled, the
probability-weighted mean over the score tokens at that position. A small judge that always *samples*
"1" may still put more weight on "4" for a good reply than for a bad one: the expectation keeps that
ranking, the sampled digit throws it away. Pure functions over an engine Completion.
"""

from __future__ import annotations

import math
import re

from schemas.engine import Completion

SCORES = ("1", "2", "3", "4", "5")


def _field_value_at(text: str, field: str) -> int | None:
    """Character offset of the score digit in `{"field": 4, ...}` (quoted or not), or None."""
    m = re.search(rf'"{re.escape(field)}"\s*:\s*"?([0-9])', text)
    return m.start(1) if m else None


def score_distribution(c: Completion, field: str = "quality", scores: tuple[str, ...] = SCORES) -> dict[str, float]:
    """P(score) at the token that holds the field's value, renormalised over `scores`; {} when the
    completion has no logprobs or no such field."""
    pos = _field_value_at(c.text, field)
    if pos is None or not c.logprobs:
        return {}
    offset = 0
    for token in c.logprobs:
        end = offset + len(token.text)
        if offset <= pos < end:
            lead = token.text[: pos - offset]  # e.g. ' ' or '"' before the digit inside the same token
            probs: dict[str, float] = {}
            for alt, logprob in token.top.items():
                digit = alt[len(lead) :] if alt.startswith(lead) else alt.strip(' "')
                digit = digit.rstrip(' ,"}\n')
                if digit in scores:
                    probs[digit] = probs.get(digit, 0.0) + math.exp(logprob)
            total = sum(probs.values())
            return {k: v / total for k, v in sorted(probs.items())} if total > 0 else {}
        offset = end
    return {}


def expected_score(c: Completion, field: str = "quality", scores: tuple[str, ...] = SCORES) -> float | None:
    dist = score_distribution(c, field, scores)
    if not dist:
        return None
    return round(sum(int(k) * p for k, p in dist.items()), 4)
