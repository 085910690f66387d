"""Hostile SQL: whatever the statement, `query` changes no file under the data root, $HOME or the cwd.

The sandbox is tested twice: through `query` (statement check first, then the sandbox) and straight
on the catalog's connection, where no statement is recognised at all.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows.catalog import Catalog, query
from flows.cli import app
from flows.store import DatasetStore
from schemas.errors import QueryError
from tests.flows.store.test_datasets import publish

PART = "{root}/demo/v1/rows/part-00000.parquet"
HOSTILE = [
    f"EXPLAIN ANALYZE COPY (SELECT 'x' AS instruction) TO '{PART}' (FORMAT parquet)",
    f"EXPLAIN ANALYZE COPY (SELECT 'x' AS instruction) TO '{PART}' (FORMAT parquet, USE_TMP_FILE false)",
    f"COPY (SELECT 'x' AS instruction) TO '{PART}' (FORMAT parquet, USE_TMP_FILE false)",
    "EXPLAIN ANALYZE COPY demo TO '{root}/out.csv'",
    "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
    "EXPLAIN ANALYZE EXPORT DATABASE '{home}/export'",
    "EXPORT DATABASE '{root}/export'",
    "PRAGMA import_database('{home}/imp')",
    "IMPORT DATABASE '{home}/imp'",
    "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    "SELECT * FROM 'https://127.0.0.1:9/x.parquet'",
    "SELECT * FROM sqlite_scan('{root}/x.db', 't')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('{root}/*')",
    "SELECT * FROM read_parquet('" + PART + "')",
    "ATTACH '{root}/x.db' AS x",
    "EXPLAIN ANALYZE ATTACH '{home}/x.db' AS x",
    "INSTALL sqlite",
    "FORCE INSTALL httpfs",
    "LOAD sqlite",
    "LOAD '{home}/evil.duckdb_extension'",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    "SET profiling_output = '{root}/profile.json'",
    "RESET lock_configuration",
    "WITH s AS (SELECT 1) SET threads = 1",
    "CALL checkpoint()",
    "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "SELECT * FROM duckdb_extensions()",
    "cOpY /* a comment */ demo -- another\n TO '{root}/y.csv'",
    "/* lead */ ExPlAiN aNaLyZe CoPy demo TO '{home}/z.parquet' (FORMAT parquet)",
    "SELECT 1; COPY demo TO '{root}/two.csv'",
    "SELECT 1; ATTACH '{root}/two.db'",
]


def snapshot(*roots: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and folder under `roots`: size, mtime and SHA-256 (folders: '' hash)."""
    seen = {}
    for root in roots:
        for p in [root, *root.rglob("*")]:
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
            seen[str(p)] = (st.st_size if p.is_file() else 0, st.st_mtime_ns, digest)
    return seen


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """One store for every hostile statement (each test checks nothing changed): HOME and cwd inside it."""
    tmp_path = tmp_path_factory.mktemp("sandbox")
    home, cwd, root = tmp_path / "home", tmp_path / "cwd", tmp_path / "data" / "datasets"
    home.mkdir()
    cwd.mkdir()
    store = DatasetStore(root)
    publish(store, "demo", ["a?", "b?"])
    publish(store, "demo", ["c?"])
    imp = home / "imp"  # what `import_database` would run: a schema that writes a file
    imp.mkdir()
    (imp / "schema.sql").write_text(f"COPY (SELECT 1 AS x) TO '{root}/pwned.csv';\n")
    (imp / "load.sql").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.chdir(cwd)
        yield root, home, [tmp_path]


def _fill(sql: str, root: Path, home: Path) -> str:
    return sql.replace("{root}", str(root)).replace("{home}", str(home))


@pytest.mark.parametrize("sql", HOSTILE)
def test_query_changes_no_file(sandbox, sql):
    root, home, watched = sandbox
    before = snapshot(*watched)
    with contextlib.suppress(QueryError, duckdb.Error):
        query(root, _fill(sql, root, home)).fetchall()
    assert snapshot(*watched) == before
    assert not (home / ".duckdb").exists()
    assert query(root, "SELECT count(*) FROM demo_all").fetchall() == [(3,)]


@pytest.mark.parametrize("sql", HOSTILE)
def test_sandbox_holds_without_the_statement_check(sandbox, sql):
    root, home, watched = sandbox
    catalog = Catalog(DatasetStore(root))
    catalog.ensure_all()
    before = snapshot(*watched)
    with contextlib.suppress(duckdb.Error):
        catalog.con.execute(_fill(sql, root, home)).fetchall()
    assert snapshot(*watched) == before
    assert not (home / ".duckdb").exists()
    setting = "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')"
    assert catalog.con.sql(setting).fetchall() == [(False, True)]


def test_refusals_are_one_line_exit_2(sandbox):
    root, home, _ = sandbox
    res = CliRunner().invoke(app, ["query", _fill(HOSTILE[0], root, home), "--data-dir", str(root.parent)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "cannot write files" in res.output and len(res.output.strip().splitlines()) == 1


def test_duckdb_allowed_paths_would_not_hold(tmp_path):
    """Why the sandbox gives DuckDB no allowed paths at all: in duckdb 2.0.0 an allowed file can be overwritten."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = tmp_path / "part.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), part)
    con = duckdb.connect()
    con.execute(f"SET allowed_paths = ['{part}']")
    con.execute("SET enable_external_access = false")
    con.execute(f"COPY (SELECT 9 AS x) TO '{part}' (FORMAT parquet, USE_TMP_FILE false)")
    assert pq.read_table(part).column("x").to_pylist() == [9]
    con = duckdb.connect()
    con.execute(f"SET allowed_directories = ['{tmp_path}/']")
    con.execute("SET enable_external_access = false")
    con.execute(f"EXPLAIN ANALYZE COPY (SELECT 8 AS x) TO '{part}' (FORMAT parquet)")
    assert pq.read_table(part).column("x").to_pylist() == [8]
