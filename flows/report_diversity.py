"""The dataset card's "Diversity" section: distinct-n of instructions, nearest-neighbour similarity
(when semantic dedup ran), and the mix of sources and judge categories."""

from __future__ import annotations

import pyarrow.parquet as pq

from filters.semantic.diversity import distinct_n, mix, nn_stats
from flows.store import Version

COLUMNS = ("instruction", "nn_similarity", "generator", "judge_category")


def diversity_section(version: Version) -> list[str]:
    files = version.files("rows")
    if not files:
        return []
    names = set(pq.read_schema(files[0]).names)
    wanted = [c for c in COLUMNS if c in names]
    if "instruction" not in wanted:
        return []
    rows = pq.read_table(version.path / "rows", columns=wanted)
    if not rows.num_rows:
        return []
    texts = rows.column("instruction").to_pylist()
    lines = ["## Diversity", "", "| figure | value |", "|---|---|"]
    lines += [f"| distinct-{n} (instructions) | {distinct_n(texts, n):.3f} |" for n in (1, 2)]
    nn = nn_stats(rows)
    if nn:
        lines += [
            f"| nearest-neighbour cosine, mean / median | {nn['mean']:.3f} / {nn['median']:.3f} |",
            f"| mean nearest-neighbour distance (1 - cosine) | {nn['mean_distance']:.3f} |",
        ]
    for column, label in (("generator", "source"), ("judge_category", "category")):
        shares = mix(rows, column)
        if shares:
            total = sum(c for _, c in shares)
            lines.append(f"| {label} mix | " + ", ".join(f"{v} {c / total:.0%}" for v, c in shares) + " |")
    return [*lines, ""]
