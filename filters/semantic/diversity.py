"""Diversity figures of a set of rows (for the dataset card): distinct-n of the instructions, the
nearest-neighbour similarity that semantic dedup records (`nn_similarity`), and a column's mix."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from filters.semantic.config import NN_COLUMN

_WORD = re.compile(r"\w+")


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams over the texts (Li et al. 2016); 0.0 with none."""
    grams: list[tuple[str, ...]] = []
    for text in texts:
        words = _WORD.findall((text or "").lower())
        grams.extend(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


def nn_stats(rows: pa.Table) -> dict[str, float] | None:
    """Mean / median nearest-neighbour cosine and mean distance (1 - cosine), or None without the column."""
    if NN_COLUMN not in rows.column_names:
        return None
    sims = np.array([s for s in rows.column(NN_COLUMN).to_pylist() if s is not None], float)
    if not len(sims):
        return None
    return {"mean": float(sims.mean()), "median": float(np.median(sims)), "mean_distance": float(1 - sims.mean())}


def mix(rows: pa.Table, column: str, top: int = 8) -> list[tuple[str, int]]:
    """The `top` commonest values of `column` with counts (the rest summed as 'other')."""
    if column not in rows.column_names:
        return []
    counts = Counter(str(v) for v in rows.column(column).to_pylist() if v not in (None, ""))
    common = counts.most_common(top)
    rest = sum(counts.values()) - sum(c for _, c in common)
    return common + ([("other", rest)] if rest else [])
