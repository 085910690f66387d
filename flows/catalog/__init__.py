"""DuckDB views over the store: read-only SQL across every dataset and version.

Per dataset NAME: view `NAME` (latest version's rows), `NAME_all` (every version's rows plus a
`version` column), `NAME_rejects` (latest version's rejects). View `trainings`: one row per trainer
hand-off (flows/train.py), read from <root>/.catalog/trainings/*.json, present once one exists; it is
`_trainings` if a dataset is itself named `trainings`. Only reading statements run.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from flows.store import DatasetStore, Version
from schemas.errors import QueryError

READ_ONLY = {"SELECT", "EXPLAIN", "PRAGMA"}
TRAININGS = "trainings"


def trainings_dir(root: Path | str) -> Path:
    """Where training records live: one JSON file per training. Dataset names never start with '.'."""
    return Path(root) / ".catalog" / TRAININGS


def training_files(root: Path | str) -> list[Path]:
    """Committed records only: a record is written to a hidden temp file first, then renamed."""
    folder = trainings_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _files_sql(v: Version, table: str) -> str:
    files = ", ".join(_sql_str(p) for p in v.files(table))
    return f"read_parquet([{files}])"


def connect(store: DatasetStore) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one set of views per dataset."""
    con = duckdb.connect(":memory:")
    for name in store.names():
        versions = store.versions(name)
        latest = versions[-1]
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {_files_sql(latest, "rows")}')
        con.execute(f'CREATE VIEW "{name}_rejects" AS SELECT * FROM {_files_sql(latest, "rejects")}')
        union = " UNION ALL BY NAME ".join(
            f"SELECT *, {v.number} AS version FROM {_files_sql(v, 'rows')}" for v in versions
        )
        con.execute(f'CREATE VIEW "{name}_all" AS {union}')
    _trainings_view(con, store)
    return con


def _trainings_view(con: duckdb.DuckDBPyConnection, store: DatasetStore) -> None:
    files = training_files(store.root)
    if not files:
        return
    view = f"_{TRAININGS}" if TRAININGS in store.names() else TRAININGS
    listed = ", ".join(_sql_str(p) for p in files)
    con.execute(f'CREATE VIEW "{view}" AS SELECT * FROM read_json_auto([{listed}], union_by_name = true)')


def query(root: Path | str, sql: str) -> duckdb.DuckDBPyRelation:
    """Run one read-only statement; anything that writes is refused before it runs."""
    statements = duckdb.extract_statements(sql)
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in READ_ONLY:
        raise QueryError(f"only reading statements are allowed (SELECT, EXPLAIN, PRAGMA); got {kind}")
    con = connect(DatasetStore(root))
    try:
        return con.sql(sql)
    except duckdb.Error as err:
        views = ", ".join(r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall())
        raise QueryError(f"{err}\n(views: {views or 'none: publish a dataset first'})") from None
