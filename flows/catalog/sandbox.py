"""A DuckDB connection that cannot touch the file system, the network or its own settings.

The catalog's data reaches DuckDB only as registered pyarrow datasets (read by pyarrow, which
synthloom drives), so DuckDB itself needs no file access at all. With external access off and no
allowed paths, every statement that would open a file fails inside DuckDB, whatever its shape:
COPY/EXPORT (also under EXPLAIN ANALYZE), ATTACH, IMPORT DATABASE, INSTALL/LOAD, read_csv('http://…'),
sqlite_scan, persistent secrets. `lock_configuration` then freezes every setting, so no SET, PRAGMA
or RESET can turn access back on. DuckDB's `allowed_directories` / `allowed_paths` are not used on
purpose: in duckdb 2.0.0 they allow writes too (`COPY … TO` a published file, with
`USE_TMP_FILE false` even for a single allowed path); see tests/flows/test_query_sandbox.py.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

import duckdb

_spill_dir: str | None = None


def spill_dir() -> str:
    """A private folder for DuckDB to spill large sorts/joins to; removed when the process exits."""
    global _spill_dir
    if _spill_dir is None:
        _spill_dir = tempfile.mkdtemp(prefix="synthloom-duckdb-")
        atexit.register(shutil.rmtree, _spill_dir, True)
    return _spill_dir


def sandbox_config() -> dict[str, str | bool]:
    return {
        "enable_external_access": False,  # no file or network access from SQL (no allowed paths either)
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "allow_persistent_secrets": False,
        "python_enable_replacements": False,  # SQL cannot name the caller's Python variables
        "temp_directory": spill_dir(),
        "lock_configuration": True,  # last: nothing above can be changed from SQL afterwards
    }


def sandboxed_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory connection; give it data with `con.register(view, pyarrow_dataset)`."""
    return duckdb.connect(":memory:", config=sandbox_config())
