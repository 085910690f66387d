"""DuckDB views over the store: read-only SQL across every dataset and version.

Per dataset NAME: view `NAME` (latest version's rows), `NAME_all` (every version's rows plus a
`version` column), `NAME_rejects` (latest version's rejects). Only reading statements run.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from flows.store import DatasetStore, Version
from schemas.errors import QueryError

READ_ONLY = {"SELECT", "EXPLAIN", "PRAGMA"}


def _files_sql(v: Version, table: str) -> str:
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in v.files(table))
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
    return con


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
