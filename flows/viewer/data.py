"""The viewer's one way to the data: the sandboxed catalog (flows/catalog), rebuilt when the store changes.

Every value from a request reaches DuckDB as a bound parameter. The only names put into SQL text are
view names the catalog itself lists (validated dataset names plus fixed suffixes) and column names from
fixed lists in queries.py, each checked against the view's own columns first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from flows.catalog import Catalog
from flows.catalog.query import RUN_ERRORS, sql_error
from flows.store import DatasetStore

Record = dict[str, Any]
SPECIAL_VIEWS = ("versions", "evals", "trainings")


class NotFound(Exception):
    """A dataset, version, row or file the store does not have: a 404 page saying so."""


class BadRequest(Exception):
    """A parameter the viewer does not accept: a 400 page saying which and why."""


def quoted(view: str) -> str:
    return '"' + view.replace('"', '""') + '"'


def store_signature(root: Path) -> tuple[Any, ...]:
    """Changes whenever a version is published or removed: a publish renames a folder into <root>/<name>."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return ()
    return tuple((e.name, e.stat().st_mtime_ns) for e in entries if e.is_dir() and not e.name.startswith("."))


class ViewerData:
    """One sandboxed catalog shared by all requests (one at a time: a DuckDB connection is not thread-safe)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.warnings: list[str] = []
        self.lock = threading.RLock()  # held while a request uses the connection
        self._catalog: Catalog | None = None
        self._signature: tuple[Any, ...] | None = None
        self._memo: dict[Hashable, Any] = {}

    def catalog(self) -> Catalog:
        signature = store_signature(self.root)
        if self._catalog is None or signature != self._signature:
            self.warnings = []
            self._catalog = Catalog(DatasetStore(self.root), self.warnings.append)
            self._signature, self._memo = signature, {}
        return self._catalog

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """`compute()` once per key while the store is unchanged (published versions never change)."""
        with self.lock:
            self.catalog()
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]

    def datasets(self) -> list[str]:
        with self.lock:
            return self.catalog().store.names()

    def view(self, name: str) -> str:
        """The catalog's name for `name` ('versions' is '_versions' if a dataset has that name); NotFound if absent."""
        with self.lock:
            views = set(self.catalog().view_names())
        datasets = set(self.datasets())
        if name in SPECIAL_VIEWS:
            name = f"_{name}" if name in datasets else name
        if name not in views:
            raise NotFound(f"no view {name!r} in the catalog")
        return name

    def has_view(self, name: str) -> bool:
        try:
            self.view(name)
        except NotFound:
            return False
        return True

    def columns(self, view: str) -> list[str]:
        """The view's column names (looked up once per store state)."""
        return self.memo(("columns", view), lambda: self._columns(view))

    def _columns(self, view: str) -> list[str]:
        with self.lock:
            catalog = self.catalog()
            catalog.ensure([view])
            try:
                return list(catalog.con.sql(f"SELECT * FROM {quoted(view)} LIMIT 0").columns)
            except duckdb.CatalogException:
                raise NotFound(f"{view} has no readable version") from None

    def query(self, sql: str, params: Sequence[Any], views: Sequence[str]) -> list[Record]:
        """Rows of `sql` as dicts; `views` are built first; `params` are bound, never formatted into `sql`."""
        with self.lock:
            catalog = self.catalog()
            catalog.ensure(views)
            try:
                cursor = catalog.con.execute(sql, list(params))
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            except duckdb.CatalogException:
                raise NotFound(f"{', '.join(views)}: no readable version") from None
            except RUN_ERRORS as err:
                raise sql_error(err) from None

    def arrow(self, sql: str, params: Sequence[Any], views: Sequence[str]) -> pa.Table:
        """`sql`'s result as an Arrow table (for many rows); the same rules as `query`."""
        with self.lock:
            catalog = self.catalog()
            catalog.ensure(views)
            try:
                return catalog.con.sql(sql, params=list(params)).to_arrow_table()
            except duckdb.CatalogException:
                raise NotFound(f"{', '.join(views)}: no readable version") from None
            except RUN_ERRORS as err:
                raise sql_error(err) from None
