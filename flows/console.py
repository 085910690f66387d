"""What the entry point (flows/main.py) and the full CLI (flows/cli.py) share: the --debug and
--verbose switches (environment variables, so flow-run subprocesses see them too) and printing one
catalog query. Light on purpose: `synthloom query` imports this without the CLI framework."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

DEBUG_ENV = "SYNTHLOOM_DEBUG"
VERBOSE_ENV = "SYNTHLOOM_VERBOSE"


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def query_and_print(sql: str, fmt: str, data_dir: Path, warn: Any) -> None:
    from flows.catalog import query, sql_error
    from flows.catalog.query import RUN_ERRORS

    rel = query(data_dir / "datasets", sql, warn=warn)
    try:
        print_relation(rel, fmt)
    except RUN_ERRORS as err:  # errors found while fetching: a bad cast, a damaged file
        raise sql_error(err) from None


def print_relation(rel: Any, fmt: str) -> None:
    if fmt == "table":
        rel.show(max_width=200)
        return
    cols, rows = rel.columns, rel.fetchall()
    if fmt == "json":
        for r in rows:
            print(json.dumps(dict(zip(cols, r, strict=True)), default=str, ensure_ascii=False))
    else:
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
