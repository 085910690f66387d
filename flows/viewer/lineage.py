"""Where a row's parent ids live: the rows (of any published dataset) whose id, chunk_id or doc_id is that id."""

from __future__ import annotations

from dataclasses import dataclass

from flows.store import parse_ref
from flows.viewer.data import NotFound, ViewerData, quoted
from flows.viewer.queries import LINEAGE_COLUMNS
from schemas.errors import DatasetError

MAX_HITS = 20


@dataclass(frozen=True)
class Hit:
    dataset: str
    version: int
    row_id: str
    column: str  # which column held the id: id (a parent row), chunk_id / doc_id (a source chunk / document)


def candidates(data: ViewerData, parents: list[str], own: str | None) -> list[tuple[str, int | None]]:
    """Where to look, nearest first: the parent versions, then the row's own dataset, then every dataset."""
    known = set(data.datasets())
    first: list[tuple[str, int | None]] = []
    for ref in parents:
        try:
            name, number = parse_ref(ref)
        except DatasetError:
            continue
        if name in known:
            first.append((name, number))
    rest = [(n, None) for n in ([own] if own in known else []) + sorted(known - {own})]
    return first + rest


def find_in(data: ViewerData, dataset: str, number: int | None, row_id: str) -> list[Hit]:
    try:
        view = data.view(f"{dataset}_all")
        columns = data.columns(view)
    except NotFound:
        return []
    hits = []
    for column in (c for c in LINEAGE_COLUMNS if c in columns):
        where, params = f"CAST({quoted(column)} AS VARCHAR) = ?", [row_id]
        if number is not None:
            where, params = f"{where} AND version = ?", [*params, number]
        sql = f"SELECT version, id FROM {quoted(view)} WHERE {where} ORDER BY version DESC, id LIMIT ?"
        seen = {(h.version, h.row_id) for h in hits}  # a chunk's row id is its chunk_id too: one hit
        found = [Hit(dataset, r["version"], str(r["id"]), column) for r in data.query(sql, [*params, MAX_HITS], [view])]
        hits += [h for h in found if (h.version, h.row_id) not in seen]
    return hits


def find_parent(data: ViewerData, row_id: str, parents: list[str], own: str | None) -> list[Hit]:
    """The rows that carry `row_id`, from the nearest place that has any (see `candidates`)."""
    for dataset, number in candidates(data, parents, own):
        if hits := find_in(data, dataset, number, row_id):
            return hits[:MAX_HITS]
    return []
