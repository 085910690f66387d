"""Near-duplicate pairs between two versions, among the rows only one side has (by id): matched with the dedup
stage's own machinery (filters/dedup: MinHash-LSH candidates verified with rapidfuzz, `DedupConfig` defaults),
so "changed" here means what the dedup stage would call a near duplicate.

Each removed row is paired with at most one added row and the other way round: the most similar pairs first
(texts equal after normalization count 1.0). The work is bounded: when more than NEAR_MAX rows were added or
removed, no matching is done and the page says so.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pyarrow as pa

from filters.dedup import DedupConfig, candidate_pairs, permutations, similarities, sketch
from filters.dedup.sketches import Sketch
from flows.viewer.data import Record, ViewerData, quoted
from flows.viewer.queries import text_columns

Ref = tuple[str, int]
NEAR_MAX = 5_000  # rows only in a, and rows only in b, each: above this the matching is skipped
PREVIEW_CHARS = 300


@dataclass
class NearPair:
    removed: Record  # id and preview of the row of a
    added: Record  # id and preview of the row of b
    similarity: float  # DedupConfig.scorer on the normalized texts, 0..1


@dataclass
class NearMatch:
    pairs: list[NearPair] = field(default_factory=list)
    skipped: str | None = None  # why no matching was done (shown on the page)
    compared: str = ""  # what was compared, and how: "instruction, response; token_sort_ratio >= 0.8"

    def ids(self, side: str) -> list[str]:
        return [getattr(p, side)["id"] for p in self.pairs]


def dedup_config(columns: list[str]) -> DedupConfig | None:
    """The dedup stage's defaults, comparing its default columns (instruction + response) when the rows have
    them, else the text columns they have (DPO: prompt, chosen, rejected; personas; corpus text)."""
    default = DedupConfig()
    if all(c in columns for c in default.text_columns):
        return default
    texts = text_columns(columns)
    return DedupConfig(text_columns=tuple(texts)) if texts else None


def side_rows(data: ViewerData, left: Ref, right: Ref, compared: tuple[str, ...], limit: int) -> pa.Table:
    """Rows of `left` whose id `right` lacks, by id: id and the compared columns; at most `limit`."""
    lview, rview = data.view(f"{left[0]}_all"), data.view(f"{right[0]}_all")
    select = ", ".join(f"CAST(l.{quoted(c)} AS VARCHAR) AS {quoted(c)}" for c in compared)
    sql = (
        f"SELECT CAST(l.id AS VARCHAR) AS id, {select} FROM {quoted(lview)} AS l WHERE l.version = ? "
        f"AND NOT EXISTS (SELECT 1 FROM {quoted(rview)} AS r WHERE r.version = ? AND r.id = l.id) "
        "ORDER BY l.id LIMIT ?"
    )
    return data.arrow(sql, [left[1], right[1], limit], [lview, rview])


def by_rep(sk: Sketch, rows: range) -> dict[int, deque[int]]:
    """Each distinct normalized text (rep) of these rows: the rows that have it, in order (empty texts: none)."""
    out: dict[int, deque[int]] = {}
    for r in rows:
        if (rep := int(sk.rep_of[r])) >= 0:
            out.setdefault(rep, deque()).append(r)
    return out


def cross_edges(sk: Sketch, gone: dict, new: dict, cfg: DedupConfig) -> list[tuple[float, int, int]]:
    """(similarity, rep of a removed row, rep of an added row): equal texts (1.0), and the LSH candidate pairs
    rapidfuzz verifies at or above cfg.threshold."""
    edges = [(1.0, p, p) for p in gone if p in new]
    if len(sk.reps) < 2:
        return edges
    i, j, _ = candidate_pairs(sk.keys, cfg.window)
    cross = [(p, q) for a, b in zip(i.tolist(), j.tolist(), strict=True) for p, q in ((a, b), (b, a))]
    cross = [(p, q) for p, q in cross if p in gone and q in new]
    scores = similarities([sk.rep_list[p] for p, _ in cross], [sk.rep_list[q] for _, q in cross], cfg)
    return edges + [(float(s), p, q) for (p, q), s in zip(cross, scores, strict=True) if s > 0]


def match(removed: pa.Table, added: pa.Table, cfg: DedupConfig) -> list[tuple[int, int, float]]:
    """One-to-one pairs (row of `removed`, row of `added`, similarity), greedily: the most similar first."""
    both = pa.concat_tables([removed, added.cast(removed.schema)])
    sk = sketch(both, cfg, permutations(cfg.num_perm, cfg.seed))
    n = removed.num_rows
    gone, new = by_rep(sk, range(n)), by_rep(sk, range(n, both.num_rows))
    pairs = []
    for similarity, p, q in sorted(cross_edges(sk, gone, new, cfg), key=lambda e: -e[0]):
        while gone[p] and new[q]:
            pairs.append((gone[p].popleft(), new[q].popleft() - n, similarity))
    return pairs


def preview(table: pa.Table, row: int, column: str) -> Record:
    text = table.column(column)[row].as_py() or ""
    return {"id": table.column("id")[row].as_py(), "preview": text[:PREVIEW_CHARS]}


def near_duplicates(data: ViewerData, a: Ref, b: Ref) -> NearMatch:
    """Rows of a that b lacks paired with near-duplicate rows of b that a lacks (computed once per store state)."""
    return data.memo(("near-duplicates", a, b), lambda: compute(data, a, b))


def compute(data: ViewerData, a: Ref, b: Ref) -> NearMatch:
    right = set(data.columns(data.view(f"{b[0]}_all")))
    cfg = dedup_config([c for c in data.columns(data.view(f"{a[0]}_all")) if c in right])
    if cfg is None:
        return NearMatch(skipped="the rows have no text column to compare")
    compared = f"{', '.join(cfg.text_columns)}; {cfg.scorer} >= {cfg.threshold}"
    removed = side_rows(data, a, b, cfg.text_columns, NEAR_MAX + 1)
    added = side_rows(data, b, a, cfg.text_columns, NEAR_MAX + 1)
    if max(removed.num_rows, added.num_rows) > NEAR_MAX:
        why = f"more than {NEAR_MAX:,} rows were added or removed (it runs when both are at most {NEAR_MAX:,})"
        return NearMatch(skipped=why, compared=compared)
    if not (removed.num_rows and added.num_rows):
        return NearMatch(compared=compared)
    column = cfg.text_columns[0]
    pairs = [
        NearPair(preview(removed, r, column), preview(added, q, column), round(s, 3))
        for r, q, s in match(removed, added, cfg)
    ]
    return NearMatch(pairs, compared=compared)
