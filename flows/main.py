"""The `synthloom` entry point. A plain `synthloom query SQL [--format F] [--data-dir D]` answers
without loading the command-line framework (typer, click, rich, pydantic: ~0.15-0.3 s of a
sub-second command) and without pandas (pyarrow datasets import it on first use, unneeded here);
it prints, fails and exits exactly as the full CLI does. Every other call goes to flows/cli.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from flows.console import DEBUG_ENV, VERBOSE_ENV, debug, query_and_print

_QUERY_OPTIONS = {"--format": "fmt", "-f": "fmt", "--data-dir": "data_dir"}


def main() -> None:
    args = sys.argv[1:]
    if command(args) == "query":
        sys.meta_path.insert(0, NoPandas())
        if (parsed := query_args(args)) is not None:
            sys.exit(run_query(*parsed))
    from flows.cli import app

    app()


def command(args: list[str]) -> str | None:
    """The subcommand name: the first argument that is not a global option."""
    return next((a for a in args if not a.startswith("-")), None)


def query_args(args: list[str]) -> tuple[str, str, Path] | None:
    """(sql, format, data dir) of a plain `[--debug] [--verbose] query SQL [--format F] [--data-dir D]`;
    None for anything else (help, a bad format, an unknown option), which the full CLI then parses and explains."""
    head = args.index("query")
    if any(a not in ("--debug", "--verbose") for a in args[:head]):
        return None
    values: dict[str, str] = {"fmt": "table", "data_dir": os.environ.get("SYNTHLOOM_DATA_DIR", "data")}
    positional: list[str] = []
    rest = iter(args[head + 1 :])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if arg in _QUERY_OPTIONS or (eq and name.startswith("--") and name in _QUERY_OPTIONS):
            given = value if eq else next(rest, None)
            if given is None:
                return None
            values[_QUERY_OPTIONS[name]] = given
        elif arg.startswith("-"):
            return None
        else:
            positional.append(arg)
    if len(positional) != 1 or values["fmt"] not in ("table", "csv", "json"):
        return None
    for flag, env in (("--debug", DEBUG_ENV), ("--verbose", VERBOSE_ENV)):
        if flag in args[:head]:
            os.environ[env] = "1"
    return positional[0], values["fmt"], Path(values["data_dir"])


def run_query(sql: str, fmt: str, data_dir: Path) -> int:
    """Run one read-only statement and print it; the exit code (2 for a user error: one line on stderr)."""
    from schemas.errors import SynthloomError

    try:
        query_and_print(sql, fmt, data_dir, lambda m: print(f"warning: {m}", file=sys.stderr))
    except SynthloomError as err:
        if debug():
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


class NoPandas:
    """An import hook under which `import pandas` fails as if pandas were not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (not needed by `synthloom query`)", name=name)
