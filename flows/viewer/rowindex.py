"""In-memory copies of versions' rows, so that a page of a 1M-row version answers in well under a second.

A version page filters, sorts, searches and pages one version; over the catalog's view each of those decodes the
version's Parquet files again (seconds for a text search at 1M rows on 2 cores). The first request of a version for
more than its first page (another page, a search, a filter, a sort) copies what its pages use into a temporary
DuckDB table on the viewer's sandboxed connection, sorted by id (so `rowid` is the id order): id, the sort and
filter columns, each row's summed text length, `_text` (the text columns and the id, lowercased and joined by
U+001E, which no search word holds: words are split on it; searched with `contains`) and the first PREVIEW_CHARS
characters of the first two text columns. From then on its pages read only that.

Memory: about the size of the version's text plus ROW_BYTES a row (~0.7 GB for 1M rows of ~450 characters). At most
INDEX_BYTES (2 GiB; SYNTHLOOM_VIEWER_MEMORY_MB sets it) are held over all versions, the least recently used version
dropped first; a version larger than that is read from its files each time (slower, the same answers). The tables
go with the connection when the store changes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass

from flows.viewer.data import ViewerData, quoted

INDEX_BYTES = int(os.environ.get("SYNTHLOOM_VIEWER_MEMORY_MB", "2048")) * 2**20  # copies held, over all versions
ROW_BYTES = 400  # what a copied row takes besides its text (a generous estimate: keys, previews, lengths)
PREVIEW_CHARS = 141  # a preview cell shows 140 characters (render.cell): one more says it was cut
SEPARATOR = "chr(30)"


@dataclass(frozen=True)
class Columns:
    """The columns of a version page, by role (names the view has, checked by queries.py)."""

    keys: list[str]  # id and the sort and filter columns
    texts: list[str]  # searched, summed for the length
    previews: list[str]  # shown (cut to PREVIEW_CHARS in a copy): the first two text columns


@dataclass(frozen=True)
class Source:
    """What a version page's queries read, and the SQL for what differs between a view and an in-memory copy."""

    table: str
    number: int | None  # the version to filter on; None: the table holds only this version
    length: str  # a row's summed text length
    order: str  # the id order (the tie-breaker of every sort), and a row's key within the version
    text: str | None  # one lowercased column holding every searched text; None: search each text column
    previews: dict[str, str]  # preview column -> its text


def text_sql(column: str) -> str:
    return f"coalesce(CAST({quoted(column)} AS VARCHAR), '')"


def length_sql(texts: list[str]) -> str:
    return " + ".join(f"length({text_sql(c)})" for c in texts) or "0"


def preview_sql(column: str) -> str:
    return f"left({text_sql(column)}, {PREVIEW_CHARS})"


def view_source(view: str, number: int, cols: Columns) -> Source:
    previews = {c: preview_sql(c) for c in cols.previews}
    return Source(view, number, length_sql(cols.texts), "id", None, previews)


def index_source(table: str, cols: Columns) -> Source:
    previews = {c: f"_preview{k}" for k, c in enumerate(cols.previews)}
    return Source(table, None, "_length", "rowid", "_text", previews)


def index_select(view: str, cols: Columns) -> str:
    """The copy of a version: its keys, length, `_text` and previews, sorted by id."""
    parts = [quoted(c) for c in cols.keys]
    parts.append(f"{length_sql(cols.texts)} AS _length")
    texts = ", ".join([*(text_sql(c) for c in cols.texts), text_sql("id")])
    parts.append(f"lower(concat_ws({SEPARATOR}, {texts})) AS _text")
    parts += [f"{preview_sql(c)} AS _preview{k}" for k, c in enumerate(cols.previews)]
    return f"SELECT {', '.join(parts)} FROM {quoted(view)} WHERE version = ? ORDER BY id"


class RowIndexes:
    """The in-memory tables of one catalog connection, least recently used first, INDEX_BYTES at most."""

    def __init__(self) -> None:
        self.tables: OrderedDict[tuple[str, int], tuple[str, int]] = OrderedDict()  # (view, version) -> (table, bytes)
        self.too_large: set[tuple[str, int]] = set()
        self.made = 0

    def get(self, data: ViewerData, view: str, number: int, cols: Columns, make: bool) -> str | None:
        """The copy of `view`'s version `number` (made now if `make`); None if there is none or it would take
        over INDEX_BYTES."""
        key = (view, number)
        if key in self.tables:
            self.tables.move_to_end(key)
            return self.tables[key][0]
        if key in self.too_large or not make:
            return None
        self.made += 1
        name = f"_viewer_rows_{self.made}"
        data.query(f"CREATE TEMP TABLE {quoted(name)} AS {index_select(view, cols)}", [number], [view])
        sql = f"SELECT coalesce(sum(_length), 0) + count(*) * {ROW_BYTES} AS n FROM {quoted(name)}"
        size = data.query(sql, [], [])[0]["n"]
        if size > INDEX_BYTES:
            self.too_large.add(key)
            data.query(f"DROP TABLE {quoted(name)}", [], [])
            return None
        while self.tables and sum(n for _, n in self.tables.values()) + size > INDEX_BYTES:
            data.query(f"DROP TABLE {quoted(self.tables.popitem(last=False)[1][0])}", [], [])
        self.tables[key] = (name, size)
        return name


def row_source(data: ViewerData, view: str, number: int, cols: Columns, make: bool) -> Source:
    """The in-memory copy of the version if there is one, or if `make` and it fits; else the view itself."""
    with data.lock:
        table = data.memo(("row-indexes",), RowIndexes).get(data, view, number, cols, make)
    return index_source(table, cols) if table else view_source(view, number, cols)
