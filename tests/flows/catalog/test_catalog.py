import pytest

from flows.catalog import query
from flows.store import DatasetStore
from schemas.errors import QueryError
from tests.flows.store.test_datasets import publish


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


def _training(dataset: str, checkpoint: str, **config) -> dict:
    return {
        "id": checkpoint[-4:],
        "dataset": dataset,
        "checkpoint": checkpoint,
        "final_loss": 1.5,
        "created_at": "2026-01-02T03:04:05.000001Z",
        "config": {"max_steps": 3, "output_dir": None, **config},
    }


def test_trainings_view_reads_one_record_per_file(root):
    import json

    from flows.catalog import trainings_dir

    with pytest.raises(QueryError, match="trainings"):  # no records yet: no view
        query(root, "SELECT * FROM trainings")
    folder = trainings_dir(root)
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps(_training("demo@v1", "/ck/aaaa")))
    (folder / "b.json").write_text(json.dumps(_training("demo@v2", "/ck/bbbb", output_dir="/ck/bbbb", extra=1)))
    (folder / ".c.json.tmp").write_text("{half a rec")  # a record being written: never read
    (folder / ".d.json").write_text("{hidden")

    rows = query(root, "SELECT dataset, checkpoint, config.output_dir FROM trainings ORDER BY 1").fetchall()
    assert rows == [("demo@v1", "/ck/aaaa", None), ("demo@v2", "/ck/bbbb", "/ck/bbbb")]
    assert query(root, "SELECT year(created_at), max(final_loss) FROM trainings GROUP BY 1").fetchall() == [(2026, 1.5)]
    joined = (
        "SELECT t.checkpoint, count(*) FROM trainings t JOIN demo_all d ON t.dataset = 'demo@v' || d.version GROUP BY 1"
    )
    assert sorted(query(root, joined).fetchall()) == [("/ck/aaaa", 2), ("/ck/bbbb", 1)]


def test_a_dataset_named_trainings_keeps_its_name(root):
    import json

    from flows.catalog import trainings_dir

    publish(DatasetStore(root), "trainings", ["t?"])
    folder = trainings_dir(root)
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps(_training("demo@v1", "/ck/aaaa")))
    assert query(root, "SELECT instruction FROM trainings").fetchall() == [("t?",)]
    assert query(root, "SELECT checkpoint FROM _trainings").fetchall() == [("/ck/aaaa",)]


def _writable(path):
    import os

    os.chmod(path, 0o644)  # published files are read-only (root ignores that anyway)
    return path


def _truncate(path, keep: int = 100) -> None:
    data = path.read_bytes()
    _writable(path).write_bytes(data[:keep])


def _collect():
    seen: list[str] = []
    return seen, seen.append


def test_rejects_all_and_versions_view(root):
    import json

    assert query(root, "SELECT version, count(*) FROM demo_rejects_all GROUP BY 1 ORDER BY 1").fetchall() == [
        (1, 1),
        (2, 1),
    ]
    rows = query(
        root, "SELECT name, version, rows, rejects, parents, config_hash, problem FROM versions ORDER BY 1, 2"
    ).fetchall()
    assert [r[:5] for r in rows] == [("demo", 1, 2, 1, []), ("demo", 2, 1, 1, []), ("other", 1, 1, 1, [])]
    assert len({r[5] for r in rows}) == 1 and all(r[6] is None for r in rows)  # same config, same hash
    stages = query(root, "SELECT s.name, s.rows_in, s.rejected FROM (SELECT unnest(stages) AS s FROM versions)")
    assert len(stages.fetchall()) == 3
    config = query(root, "SELECT DISTINCT config FROM versions").fetchall()
    assert json.loads(config[0][0]) == {"k": 1}


def test_a_truncated_part_leaves_only_its_version_out(root):
    publish(DatasetStore(root), "demo", ["d?", "e?", "f?"])
    _truncate(DatasetStore(root).get("demo@v2").files()[0])
    seen, warn = _collect()
    assert query(root, "SELECT instruction FROM other", warn).fetchall() == [("z?",)]
    assert seen == []  # another dataset: demo was not even looked at
    counts = query(root, "SELECT version, count(*) FROM demo_all GROUP BY 1 ORDER BY 1", warn).fetchall()
    assert counts == [(1, 2), (3, 3)]
    assert len(seen) == 1 and "demo@v2 left out" in seen[0] and "synthloom datasets verify demo@v2" in seen[0]
    assert query(root, "SELECT count(*) FROM demo", warn).fetchall() == [(3,)]


def test_a_truncated_footer_is_found_without_recorded_sizes(root):
    """Manifests without file sizes: the scan's own footer check finds the broken file."""
    import json

    v2 = DatasetStore(root).get("demo@v2")
    manifest = json.loads((v2.path / "manifest.json").read_text())
    del manifest["files"]
    _writable(v2.path / "manifest.json").write_text(json.dumps(manifest))
    _truncate(v2.files()[0])
    seen, warn = _collect()
    assert query(root, "SELECT version, count(*) FROM demo_all GROUP BY 1", warn).fetchall() == [(1, 2)]
    assert query(root, "SELECT count(*) FROM demo", warn).fetchall() == [(2,)]  # the newest intact: v1
    assert len(seen) == 2 and all("demo@v2 left out" in w and "not readable Parquet" in w for w in seen)


def test_a_truncated_manifest_is_reported_and_left_out(root):
    m = DatasetStore(root).get("demo@v2").path / "manifest.json"
    _truncate(m, keep=40)
    seen, warn = _collect()
    assert query(root, "SELECT count(*) FROM demo_all", warn).fetchall() == [(2,)]
    assert "demo@v2 left out" in seen[0] and "manifest.json is unreadable" in seen[0]
    rows = query(root, "SELECT name, version, problem IS NOT NULL FROM versions ORDER BY 1, 2", warn).fetchall()
    assert rows == [("demo", 1, False), ("demo", 2, True), ("other", 1, False)]


@pytest.mark.parametrize(
    "sql, expect",
    [
        ("SELEC 1 FROM demo", 'syntax error at or near "SELEC"'),
        ("SELECT CAST(instruction AS INTEGER) FROM demo", "Conversion Error"),
        ("SELECT nope FROM demo", "nope"),
        ("SELECT * FROM nope", "views: "),
    ],
)
def test_sql_errors_are_one_line_exit_2(root, sql, expect):
    from typer.testing import CliRunner

    from flows.cli import app

    datasets = root / "datasets"
    datasets.mkdir()
    for p in root.iterdir():
        if p != datasets:
            p.rename(datasets / p.name)
    res = CliRunner().invoke(app, ["query", sql, "--data-dir", str(root)])
    assert res.exit_code == 2, res.output
    assert expect in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_a_column_whose_type_changed_between_versions_is_read_as_text(tmp_path):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    for v, judge in [(1, pa.array([1, 2])), (2, pa.array(["x", "y"])), (3, pa.array([1.5, 2.5]))]:
        d = tmp_path / "ds" / f"v{v}"
        (d / "rows").mkdir(parents=True)
        (d / "rejects").mkdir()
        pq.write_table(pa.table({"instruction": ["a", "b"], "judge": judge}), d / "rows" / "part-00000.parquet")
        pq.write_table(pa.table({"reason": pa.array([], pa.string())}), d / "rejects" / "part-00000.parquet")
        (d / "manifest.json").write_text(json.dumps({"rows": 2, "rejects": 0, "config": {}, "stages": []}))
    rows = query(tmp_path, "SELECT version, judge FROM ds_all ORDER BY 1, 2").fetchall()
    assert rows == [(1, "1"), (1, "2"), (2, "x"), (2, "y"), (3, "1.5"), (3, "2.5")]
    assert query(tmp_path, "SELECT sum(judge) FROM ds").fetchall() == [(4.0,)]  # the newest alone keeps its type
