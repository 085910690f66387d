"""A version page reads an in-memory copy of the version (rowindex.py) or, when too large, the view: the same rows."""

from __future__ import annotations

import pytest

from flows.viewer import rowindex
from flows.viewer.data import ViewerData
from flows.viewer.queries import RowQuery, rows_page

QUERIES = [
    RowQuery(),
    RowQuery(page=2),
    RowQuery(sort="id", desc=True),
    RowQuery(sort="judge", desc=True, page=2),
    RowQuery(sort="length"),
    RowQuery(sort="nn", desc=True),
    RowQuery(sort="source", filters={"category": "coding"}),
    RowQuery(q="tides NUMBER 1"),
    RowQuery(q="reverse"),
    RowQuery(q="%"),  # a LIKE wildcard is a character like any other
    RowQuery(q="_"),
    RowQuery(q="<script>"),
    RowQuery(page=9),  # past the end
]


def page_of(data: ViewerData, query: RowQuery) -> tuple:
    rows_page(data, "docs", 1, RowQuery(sort="judge"))  # a sort other than id: the copy is made if it fits
    page = rows_page(data, "docs", 1, query)
    return page.total, page.rows, page.options


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_the_copy_and_the_view_answer_alike(store_root, monkeypatch, query):
    data = ViewerData(store_root)
    copied = page_of(data, query)
    assert temp_tables(data) == {"_viewer_rows_1"}
    monkeypatch.setattr(rowindex, "INDEX_BYTES", 10)  # too small for docs@v1: read from the view
    data = ViewerData(store_root)
    assert page_of(data, query) == copied and temp_tables(data) == set()


def test_the_first_page_alone_makes_no_copy(store_root):
    data = ViewerData(store_root)
    rows_page(data, "docs", 1, RowQuery())
    assert temp_tables(data) == set()
    rows_page(data, "docs", 1, RowQuery(page=2))
    assert temp_tables(data) == {"_viewer_rows_1"}


@pytest.mark.parametrize("q", ["NUMBER 1", "reverse list", "%", "<SCRIPT>"])
def test_search_finds_what_python_finds(store_root, q):
    data = ViewerData(store_root)
    rows = data.query("SELECT id, instruction, response FROM docs_all WHERE version = 1", [], ["docs_all"])
    texts = ["\n".join([r["instruction"], r["response"], r["id"]]).lower() for r in rows]
    expected = sum(all(word in text for word in q.lower().split()) for text in texts)
    assert rows_page(data, "docs", 1, RowQuery(q=q)).total == expected
    assert q != "%" or expected == 0


def test_least_recently_used_copies_are_dropped(store_root, monkeypatch):
    monkeypatch.setattr(rowindex, "INDEX_BYTES", 40_000)  # room for one of docs@v1, docs@v2 (~30 kB each)
    data = ViewerData(store_root)
    rows_page(data, "docs", 1, RowQuery(q="tides"))
    rows_page(data, "docs", 2, RowQuery(sort="nn"))
    indexes = data.memo(("row-indexes",), rowindex.RowIndexes)
    assert list(indexes.tables) == [("docs_all", 2)]
    assert temp_tables(data) == {"_viewer_rows_2"}


def test_a_version_too_large_to_copy_is_read_from_its_view(store_root, monkeypatch):
    monkeypatch.setattr(rowindex, "INDEX_BYTES", 10)
    data = ViewerData(store_root)
    assert rows_page(data, "docs", 1, RowQuery(q="reverse")).total == 1
    assert rows_page(data, "docs", 1, RowQuery(page=2)).total == 60
    assert temp_tables(data) == set() and data.memo(("row-indexes",), rowindex.RowIndexes).made == 1  # tried once


def temp_tables(data: ViewerData) -> set[str]:
    return {r["name"] for r in data.query("SELECT table_name AS name FROM duckdb_tables()", [], [])}
