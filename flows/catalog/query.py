"""`synthloom query`: one statement, run in the sandbox; every SQL error is one line.

The statement-type check below only gives a friendlier message sooner: what makes a query unable
to write, attach, install or reach the network is the sandbox (flows/catalog/sandbox.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from flows.catalog.views import Catalog, stderr_warning
from flows.store import DatasetStore
from schemas.errors import QueryError

READ_ONLY = {"SELECT", "EXPLAIN", "PRAGMA"}
SANDBOX = (
    "queries only read: they cannot write files, attach databases, load extensions, change settings or use the network"
)
RUN_ERRORS = (duckdb.Error, pa.ArrowException, OSError)


def first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def sql_error(err: BaseException, catalog: Catalog | None = None) -> QueryError:
    """One line: DuckDB's first line, plus the views when a name was not found, or what the sandbox allows."""
    message = f"SQL error: {first_line(err)}"
    if isinstance(err, duckdb.PermissionException) or "configuration has been locked" in str(err):
        message += f" ({SANDBOX})"
    elif isinstance(err, duckdb.CatalogException) and catalog is not None:
        message += f" (views: {', '.join(catalog.view_names()) or 'none: publish a dataset first'})"
    elif isinstance(err, pa.ArrowException | OSError):
        message += " (a store file may be damaged: check it with `synthloom datasets verify`)"
    return QueryError(message)


def check_statement(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """One reading statement, or a QueryError. Parsing with an open connection saves creating
    duckdb's default one (~40 ms of a sub-second `synthloom query`)."""
    try:
        statements = (con or duckdb).extract_statements(sql)
    except duckdb.Error as err:
        raise sql_error(err) from None
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}: run them one at a time")
    kind = statements[0].type.name
    if kind not in READ_ONLY:
        raise QueryError(f"only reading statements are allowed (SELECT, EXPLAIN, PRAGMA); got {kind}")


def query(root: Path | str, sql: str, warn: Callable[[str], None] = stderr_warning) -> duckdb.DuckDBPyRelation:
    """Run one statement over the store at `root` in the sandbox; builds only the views `sql` names.

    Execution is lazy (a relation): errors while fetching are DuckDB/Arrow errors; `sql_error` words them.
    """
    catalog = Catalog(DatasetStore(root), warn)
    check_statement(sql, catalog.con)
    try:
        catalog.ensure_for(sql)
        rel = catalog.con.sql(sql)
    except RUN_ERRORS as err:
        raise sql_error(err, catalog) from None
    return rel if rel is not None else catalog.con.sql("SELECT 'done' AS status")


def connect(store: DatasetStore, warn: Callable[[str], None] = stderr_warning) -> duckdb.DuckDBPyConnection:
    """A sandboxed connection with every view built (for scripts and benches; `query` builds only what it needs)."""
    catalog = Catalog(store, warn)
    catalog.ensure_all()
    return catalog.con
