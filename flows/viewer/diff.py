"""Two versions side by side: rows added and removed (by id), the near-duplicate pairs among them (neardup.py),
per-stage counts and reject reasons."""

from __future__ import annotations

from dataclasses import dataclass

from flows.viewer.data import Record, ViewerData, quoted
from flows.viewer.neardup import NearMatch, near_duplicates
from flows.viewer.queries import PAGE_SIZE, text_columns, version_record

Ref = tuple[str, int]


@dataclass
class Diff:
    a: Record  # each side's `versions` record
    b: Record
    added: list[Record]  # rows of b whose id a lacks and that no near-duplicate pair holds (first PAGE_SIZE)
    removed: list[Record]
    added_total: int  # by id: rows of b whose id a lacks, near-duplicate pairs included
    removed_total: int
    kept: int
    near: NearMatch  # changed (near-duplicate): removed rows paired with added rows
    stages: list[tuple[str, Record | None, Record | None]]
    reasons: list[tuple[str, str, int, int]]

    @property
    def purely_added(self) -> int:
        return self.added_total - len(self.near.pairs)

    @property
    def purely_removed(self) -> int:
        return self.removed_total - len(self.near.pairs)


def only_in(data: ViewerData, left: Ref, right: Ref, paired: list[str]) -> tuple[list[Record], int]:
    """Rows of `left` whose id is not in `right`, leaving out the `paired` ids: the first page, by id, and how
    many there are with the paired ones (the count by id)."""
    lview, rview = data.view(f"{left[0]}_all"), data.view(f"{right[0]}_all")
    shown = text_columns(data.columns(lview))[:1]
    preview = f", {quoted(shown[0])} AS preview" if shown else ", NULL AS preview"
    sql = (
        f"SELECT l.id{preview}, list_contains(CAST(? AS VARCHAR[]), CAST(l.id AS VARCHAR)) AS paired, "
        f"count(*) OVER () AS total FROM {quoted(lview)} AS l WHERE l.version = ? "
        f"AND NOT EXISTS (SELECT 1 FROM {quoted(rview)} AS r WHERE r.version = ? AND r.id = l.id) "
        "QUALIFY NOT paired ORDER BY l.id LIMIT ?"
    )
    rows = data.query(sql, [paired, left[1], right[1], PAGE_SIZE], [lview, rview])
    return rows, rows[0]["total"] if rows else len(paired)


def stage_pairs(a: Record, b: Record) -> list[tuple[str, Record | None, Record | None]]:
    sa = {s["name"]: s for s in a["stages"] or []}
    sb = {s["name"]: s for s in b["stages"] or []}
    return [(name, sa.get(name), sb.get(name)) for name in dict.fromkeys([*sa, *sb])]


def reason_counts(data: ViewerData, ref: Ref) -> dict[tuple[str, str], int]:
    view = data.view(f"{ref[0]}_rejects_all")
    sql = f"SELECT stage, reason, count(*) AS n FROM {quoted(view)} WHERE version = ? GROUP BY stage, reason"
    return {(r["stage"], r["reason"]): r["n"] for r in data.query(sql, [ref[1]], [view])}


def diff(data: ViewerData, a: Ref, b: Ref) -> Diff:
    ra, rb = version_record(data, *a), version_record(data, *b)
    near = near_duplicates(data, a, b)
    added, added_total = only_in(data, b, a, near.ids("added"))
    removed, removed_total = only_in(data, a, b, near.ids("removed"))
    ca, cb = reason_counts(data, a), reason_counts(data, b)
    reasons = [(s, r, ca.get((s, r), 0), cb.get((s, r), 0)) for s, r in sorted({*ca, *cb})]
    kept = (rb["rows"] or 0) - added_total
    return Diff(ra, rb, added, removed, added_total, removed_total, kept, near, stage_pairs(ra, rb), reasons)
