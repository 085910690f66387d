import pytest

from flows.catalog import query
from flows.store import DatasetStore
from schemas.errors import QueryError
from tests.flows.test_store import publish


@pytest.fixture
def root(tmp_path):
    store = DatasetStore(tmp_path)
    publish(store, "demo", ["a?", "b?"])
    publish(store, "demo", ["c?"])
    publish(store, "other", ["z?"])
    return tmp_path


def test_latest_view_and_all_versions_view(root):
    assert query(root, "SELECT count(*) FROM demo").fetchall() == [(1,)]
    assert query(root, "SELECT version, count(*) FROM demo_all GROUP BY 1 ORDER BY 1").fetchall() == [(1, 2), (2, 1)]
    assert query(root, "SELECT reason FROM demo_rejects").fetchall() == [("instruction_empty",)]
    assert query(root, "SELECT instruction FROM other").fetchall() == [("z?",)]


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t AS SELECT 1",
        "COPY demo TO 'x.csv'",
        "DROP VIEW demo",
        "INSERT INTO demo SELECT * FROM demo",
        "ATTACH 'x.db'",
    ],
)
def test_writes_are_refused(root, sql):
    with pytest.raises(QueryError, match="only reading statements"):
        query(root, sql)


def test_unknown_table_lists_views(root):
    with pytest.raises(QueryError, match="views: .*demo_all"):
        query(root, "SELECT * FROM nope")


def test_two_statements_refused(root):
    with pytest.raises(QueryError, match="one SQL statement"):
        query(root, "SELECT 1; SELECT 2")


def test_hf_datasets_reads_a_version(root):
    from datasets import load_dataset

    v = DatasetStore(root).get("demo@v1")
    ds = load_dataset("parquet", data_files=[str(p) for p in v.files()], split="train")
    assert sorted(ds["instruction"]) == ["a?", "b?"]
    assert ds[0]["messages"][0]["role"] == "user"


def test_an_empty_version_keeps_its_schema(tmp_path):
    # HF datasets' parquet builder refuses a split with no rows ("corresponds to no data"), whatever
    # the file; DuckDB and pyarrow read it as zero rows with the full schema.
    import pyarrow.parquet as pq

    from schemas.rows import SFT_SCHEMA

    v = publish(DatasetStore(tmp_path), "empty", [])
    assert query(tmp_path, "SELECT count(*) FROM empty").fetchall() == [(0,)]
    assert pq.read_table(v.files()[0]).schema.names == SFT_SCHEMA.names
