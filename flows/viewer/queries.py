"""What each page shows, as parameterized SQL over the catalog's views (see data.py for the rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows.viewer.data import NotFound, Record, ViewerData, quoted
from flows.viewer.rowindex import Columns, Source, row_source, text_sql

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
VERSION_COLUMNS = ("name", "version", "rows", "rejects", "created_at", "run_id", "code_version", "parents")
VERSION_COLUMNS += ("config_hash", "stages", "problem")
# The run's ledger totals and why it stopped (null: a complete run): in `versions` once the catalog reads them
# from the manifest; selected only when the view has them.
VERSION_COSTS = ("prompt_tokens", "completion_tokens", "cost_usd", "stopped")


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


def versions_select(data: ViewerData, view: str) -> str:
    """The `versions` columns pages show: VERSION_COLUMNS, and of VERSION_COSTS those the view has."""
    have = data.columns(view)
    return ", ".join(quoted(c) for c in (*VERSION_COLUMNS, *VERSION_COSTS) if c in have)


def version_record(data: ViewerData, name: str, number: int) -> Record:
    """The version's row of the `versions` view (manifest data); NotFound if the store has no such version."""
    view = data.view("versions")
    sql = f"SELECT {versions_select(data, view)} FROM {quoted(view)} WHERE name = ? AND version = ?"
    rows = data.query(sql, [name, number], [view])
    if not rows:
        raise NotFound(f"{name} has no version v{number}")
    return with_tokens(rows[0])


def with_tokens(record: Record) -> Record:
    """Adds VERSION_COSTS the view lacks (None: shown blank) and `tokens`: prompt + completion tokens, from the
    run's ledger when the view has it, else summed over the version's stages."""
    record = {**dict.fromkeys(VERSION_COSTS), **record}
    if record["prompt_tokens"] is not None or record["completion_tokens"] is not None:
        record["tokens"] = (record["prompt_tokens"] or 0) + (record["completion_tokens"] or 0)
    else:
        stages = record["stages"] or []
        record["tokens"] = sum((s["prompt_tokens"] or 0) + (s["completion_tokens"] or 0) for s in stages)
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
    sql = f"SELECT {versions_select(data, view)} FROM {quoted(view)} WHERE name = ? ORDER BY version DESC"
    return [with_tokens(r) for r in data.query(sql, [name], [view])]


def text_columns(columns: list[str]) -> list[str]:
    return [c for c in TEXT_COLUMNS if c in columns]


def where_sql(query: RowQuery, columns: list[str], src: Source) -> tuple[str, list[Any]]:
    """The WHERE clause of a version page: its version (unless the source holds just it), every search word (in
    any text column or the id, ignoring case), the filters."""
    clauses, params = (["version = ?"], [src.number]) if src.number is not None else ([], [])
    searched = [src.text] if src.text else [f"lower({text_sql(c)})" for c in [*text_columns(columns), "id"]]
    for word in query.q.lower().split():
        clauses.append("(" + " OR ".join(f"contains({text}, ?)" for text in searched) + ")")
        params += [word] * len(searched)
    for key, value in query.filters.items():
        column = FILTERS[key]
        if column in columns:
            clauses.append(f"CAST({quoted(column)} AS VARCHAR) = ?")
            params.append(value)
    return " AND ".join(clauses) or "TRUE", params


def order_sql(query: RowQuery, columns: list[str], src: Source) -> str:
    direction = "DESC" if query.desc else "ASC"
    if query.sort == "id":
        return f"{src.order} {direction}"
    if query.sort == "length":
        return f"{src.length} {direction} NULLS LAST, {src.order}"
    column = next(c for c in SORTS[query.sort] if c in columns)
    return f"{quoted(column)} {direction} NULLS LAST, {src.order}"


def available_sorts(columns: list[str]) -> list[str]:
    return [key for key, cols in SORTS.items() if not cols or any(c in columns for c in cols)]


def page_columns(columns: list[str]) -> Columns:
    keys = [c for c in ("id", *SORTS["judge"], "nn_similarity", *FILTERS.values()) if c in columns]
    return Columns(keys, text_columns(columns), text_columns(columns)[:2])


def rows_page(data: ViewerData, name: str, number: int, query: RowQuery) -> RowsPage:
    """A page of a version's rows, from its in-memory copy (rowindex.py: made by the first request for anything but
    the first page) or its view: the page's keys first (reading only the columns that filter and sort), then those
    rows' shown columns."""
    view = data.view(f"{name}_all")
    columns = data.columns(view)
    sorts = available_sorts(columns)
    if query.sort not in sorts:
        raise NotFound(f"{name}@v{number} has no column to sort by {query.sort!r} (sorts: {', '.join(sorts)})")
    cols = page_columns(columns)
    src = row_source(data, view, number, cols, make=query != RowQuery())  # the first page alone reads the view
    keys, total = page_keys(data, src, query, columns)
    rows = rows_by_key(data, src, keys, cols.keys)
    options = data.memo(("options", view, number), lambda: filter_options(data, src, columns))
    return RowsPage(rows, total, cols.keys, cols.previews, sorts, options)


def page_keys(data: ViewerData, src: Source, query: RowQuery, columns: list[str]) -> tuple[list[Any], int]:
    """The page's row keys (src.order), in order, and how many rows match. With a search the count comes from
    the same scan (a search reads every text once; a count apart would read them again)."""
    where, params = where_sql(query, columns, src)
    searching = bool(query.q.split())
    total = ", count(*) OVER () AS total" if searching else ""
    order = order_sql(query, columns, src)
    sql = f"SELECT {src.order} AS k{total} FROM {quoted(src.table)} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    found = data.query(sql, [*params, PAGE_SIZE, (query.page - 1) * PAGE_SIZE], [src.table])
    count = found[0]["total"] if found and searching else count_rows(data, src, where, params)
    return [r["k"] for r in found], count


def version_clause(src: Source) -> tuple[str, list[Any]]:
    return ("version = ? AND ", [src.number]) if src.number is not None else ("", [])


def rows_by_key(data: ViewerData, src: Source, keys: list[Any], columns: list[str]) -> list[Record]:
    """The rows of one version with these keys (src.order), in this order: these columns, the previews, the text
    length."""
    if not keys:
        return []
    select = [f"{src.order} AS _key", *(quoted(c) for c in columns)]
    select += [*(f"{sql} AS {quoted(c)}" for c, sql in src.previews.items()), f"{src.length} AS length"]
    version, params = version_clause(src)
    sql = f"SELECT {', '.join(select)} FROM {quoted(src.table)} WHERE {version}list_contains(?, {src.order})"
    by_key = {r.pop("_key"): r for r in data.query(sql, [*params, keys], [src.table])}
    return [by_key[k] for k in keys if k in by_key]


def count_rows(data: ViewerData, src: Source, where: str, params: list[Any]) -> int:
    return data.query(f"SELECT count(*) AS n FROM {quoted(src.table)} WHERE {where}", params, [src.table])[0]["n"]


def filter_options(data: ViewerData, src: Source, columns: list[str]) -> dict[str, list[Record]]:
    """For each filter the view has a column for: its values in this version, most frequent first."""
    options = {}
    version, params = version_clause(src)
    for key, column in FILTERS.items():
        if column in columns:
            sql = (
                f"SELECT CAST({quoted(column)} AS VARCHAR) AS value, count(*) AS n FROM {quoted(src.table)} "
                f"WHERE {version}TRUE GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100"
            )
            options[key] = data.query(sql, params, [src.table])
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
