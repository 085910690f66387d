"""What each page shows, as parameterized SQL over the catalog's views (see data.py for the rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows.viewer.data import NotFound, Record, ViewerData, quoted

PAGE_SIZE = 50
EXAMPLES = 3  # rejects shown per (stage, reason) on the summary
# Text columns of the table shapes the store holds: SFT, DPO, personas, augmented corpus.
TEXT_COLUMNS = ("instruction", "response", "prompt", "chosen", "rejected", "persona", "text")
SORTS: dict[str, tuple[str, ...]] = {  # sort key -> the first of these columns the view has
    "id": ("id",),
    "judge": ("judge_score", "judge_quality"),
    "nn": ("nn_similarity",),
    "length": (),  # the summed length of the text columns
    "source": ("source_kind", "generator"),
}
FILTERS = {"source": "source_kind", "generator": "generator", "category": "judge_category"}
LINEAGE_COLUMNS = ("id", "chunk_id", "doc_id")  # where a parent id can be found


@dataclass(frozen=True)
class RowQuery:
    """A version page's request: search words, sort, direction, filters, page (validated in params.py)."""

    q: str = ""
    sort: str = "id"
    desc: bool = False
    filters: dict[str, str] = field(default_factory=dict)
    page: int = 1


@dataclass
class RowsPage:
    rows: list[Record]
    total: int
    columns: list[str]
    preview: list[str]
    sorts: list[str]
    options: dict[str, list[Record]]


def version_record(data: ViewerData, name: str, number: int) -> Record:
    """The version's row of the `versions` view (manifest data); NotFound if the store has no such version."""
    view = data.view("versions")
    rows = data.query(f"SELECT * FROM {quoted(view)} WHERE name = ? AND version = ?", [name, number], [view])
    if not rows:
        raise NotFound(f"{name} has no version v{number}")
    return with_tokens(rows[0])


def with_tokens(record: Record) -> Record:
    """Adds `tokens`: prompt + completion tokens over the version's stages."""
    record["tokens"] = sum((s["prompt_tokens"] or 0) + (s["completion_tokens"] or 0) for s in record["stages"] or [])
    return record


def datasets_summary(data: ViewerData) -> list[Record]:
    if not data.datasets():
        return []
    view = data.view("versions")
    sql = (
        "SELECT name, count(*) AS versions, max(version) AS latest, arg_max(rows, version) AS rows, "
        "arg_max(rejects, version) AS rejects, max(created_at) AS updated, count(problem) AS problems "
        f"FROM {quoted(view)} GROUP BY name ORDER BY name"
    )
    return data.query(sql, [], [view])


def dataset_versions(data: ViewerData, name: str) -> list[Record]:
    if name not in data.datasets():
        raise NotFound(f"no dataset named {name!r}")
    view = data.view("versions")
    rows = data.query(f"SELECT * FROM {quoted(view)} WHERE name = ? ORDER BY version DESC", [name], [view])
    return [with_tokens(r) for r in rows]


def text_columns(columns: list[str]) -> list[str]:
    return [c for c in TEXT_COLUMNS if c in columns]


def length_sql(columns: list[str]) -> str:
    parts = [f"length(coalesce(CAST({quoted(c)} AS VARCHAR), ''))" for c in text_columns(columns)]
    return " + ".join(parts) or "0"


def where_sql(query: RowQuery, columns: list[str], number: int) -> tuple[str, list[Any]]:
    """The WHERE clause of a version page: its version, every search word (in any text column), the filters."""
    clauses, params = ["version = ?"], [number]
    searched = [*text_columns(columns), "id"]
    for word in query.q.lower().split():
        clauses.append("(" + " OR ".join(f"contains(lower(CAST({quoted(c)} AS VARCHAR)), ?)" for c in searched) + ")")
        params += [word] * len(searched)
    for key, value in query.filters.items():
        column = FILTERS[key]
        if column in columns:
            clauses.append(f"CAST({quoted(column)} AS VARCHAR) = ?")
            params.append(value)
    return " AND ".join(clauses), params


def order_sql(query: RowQuery, columns: list[str]) -> str:
    direction = "DESC" if query.desc else "ASC"
    if query.sort == "length":
        return f"{length_sql(columns)} {direction} NULLS LAST, id"
    column = next(c for c in SORTS[query.sort] if c in columns)
    return f"{quoted(column)} {direction} NULLS LAST, id"


def available_sorts(columns: list[str]) -> list[str]:
    return [key for key, cols in SORTS.items() if not cols or any(c in columns for c in cols)]


def rows_page(data: ViewerData, name: str, number: int, query: RowQuery) -> RowsPage:
    """A page of a version's rows: the page's ids first (reading only the columns that filter and sort),
    then those rows' shown columns; at 1M rows this is ~10x faster than one query that sorts whole rows."""
    view = data.view(f"{name}_all")
    columns = data.columns(view)
    sorts = available_sorts(columns)
    if query.sort not in sorts:
        raise NotFound(f"{name}@v{number} has no column to sort by {query.sort!r} (sorts: {', '.join(sorts)})")
    where, params = where_sql(query, columns, number)
    sql = f"SELECT id FROM {quoted(view)} WHERE {where} ORDER BY {order_sql(query, columns)} LIMIT ? OFFSET ?"
    ids = [r["id"] for r in data.query(sql, [*params, PAGE_SIZE, (query.page - 1) * PAGE_SIZE], [view])]
    shown = [c for c in ("id", *SORTS["judge"], "nn_similarity", *FILTERS.values()) if c in columns]
    preview = text_columns(columns)[:2]
    rows = rows_by_id(data, view, number, ids, [*shown, *preview], length_sql(columns))
    total = count_rows(data, view, where, params)
    options = data.memo(("options", view, number), lambda: filter_options(data, view, columns, number))
    return RowsPage(rows, total, shown, preview, sorts, options)


def rows_by_id(
    data: ViewerData, view: str, number: int, ids: list[str], columns: list[str], length: str
) -> list[Record]:
    """The rows of one version with these ids, in this order, with these columns and their text length."""
    if not ids:
        return []
    select = ", ".join(quoted(c) for c in dict.fromkeys(columns))
    sql = f"SELECT {select}, {length} AS length FROM {quoted(view)} WHERE version = ? AND list_contains(?, id)"
    by_id = {r["id"]: r for r in data.query(sql, [number, ids], [view])}
    return [by_id[i] for i in ids if i in by_id]


def count_rows(data: ViewerData, view: str, where: str, params: list[Any]) -> int:
    return data.query(f"SELECT count(*) AS n FROM {quoted(view)} WHERE {where}", params, [view])[0]["n"]


def filter_options(data: ViewerData, view: str, columns: list[str], number: int) -> dict[str, list[Record]]:
    """For each filter the view has a column for: its values in this version, most frequent first."""
    options = {}
    for key, column in FILTERS.items():
        if column in columns:
            sql = (
                f"SELECT CAST({quoted(column)} AS VARCHAR) AS value, count(*) AS n FROM {quoted(view)} "
                "WHERE version = ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100"
            )
            options[key] = data.query(sql, [number], [view])
    return options


def row(data: ViewerData, name: str, number: int, row_id: str) -> Record:
    view = data.view(f"{name}_all")
    rows = data.query(f"SELECT * FROM {quoted(view)} WHERE version = ? AND id = ? LIMIT 1", [number, row_id], [view])
    if not rows:
        raise NotFound(f"{name}@v{number} has no row with id {row_id!r}")
    return rows[0]


def reject_groups(data: ViewerData, name: str, number: int) -> list[Record]:
    """Rejects of a version by stage and reason, most frequent first, each with its first few examples."""
    view = data.view(f"{name}_rejects_all")
    sql = (
        f"SELECT stage, reason, count(*) AS n FROM {quoted(view)} WHERE version = ? "
        "GROUP BY stage, reason ORDER BY n DESC, stage, reason"
    )
    groups = data.query(sql, [number], [view])
    ranked = (
        "SELECT stage, reason, id, detail, raw_text, row_number() OVER (PARTITION BY stage, reason ORDER BY id) AS k "
        f"FROM {quoted(view)} WHERE version = ?"
    )
    examples = data.query(f"SELECT * FROM ({ranked}) WHERE k <= ? ORDER BY id", [number, EXAMPLES], [view])
    for g in groups:
        g["examples"] = [e for e in examples if (e["stage"], e["reason"]) == (g["stage"], g["reason"])]
    return groups


def reject_examples(data: ViewerData, name: str, number: int, stage: str, reason: str, page: int) -> list[Record]:
    """One (stage, reason) group's rejects, a page at a time, every column."""
    view = data.view(f"{name}_rejects_all")
    sql = (
        f"SELECT * EXCLUDE (version) FROM {quoted(view)} WHERE version = ? AND stage = ? AND reason = ? "
        "ORDER BY id LIMIT ? OFFSET ?"
    )
    return data.query(sql, [number, stage, reason, PAGE_SIZE, (page - 1) * PAGE_SIZE], [view])


def table_page(data: ViewerData, name: str, page: int) -> tuple[list[Record], int]:
    """A page of one of the catalog's own views (versions, evals, trainings) and its row count."""
    view = data.view(name)
    order = "ORDER BY name, version" if name == "versions" else ""
    drop = " EXCLUDE (config, path)" if name == "versions" else ""
    sql = f"SELECT *{drop} FROM {quoted(view)} {order} LIMIT ? OFFSET ?"
    rows = data.query(sql, [PAGE_SIZE, (page - 1) * PAGE_SIZE], [view])
    return rows, data.query(f"SELECT count(*) AS n FROM {quoted(view)}", [], [view])[0]["n"]
