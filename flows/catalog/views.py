"""The catalog: view names known up front from folder names, each view built the first time it is needed.

Building a view reads only what it covers: `NAME` the newest intact version's footers, `NAME_all` every
version's manifest and footers (once), `versions` every manifest. A query over one dataset never
touches another, so a broken file elsewhere cannot break it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import pyarrow.dataset as arrow_ds

from flows.catalog.sandbox import sandboxed_connection
from flows.catalog.scan import VersionScan, arrow_dataset, scan_versions
from flows.catalog.tables import trainings_table, versions_table
from flows.store import DatasetStore
from flows.store.evals import eval_files

EVALS = "evals"
TRAININGS = "trainings"
VERSIONS = "versions"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def trainings_dir(root: Path | str) -> Path:
    """Where training records live: one JSON file per training. Dataset names never start with '.'."""
    return Path(root) / ".catalog" / TRAININGS


def training_files(root: Path | str) -> list[Path]:
    """Committed records only: a record is written to a hidden temp file first, then renamed."""
    folder = trainings_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class Catalog:
    """A sandboxed DuckDB connection (flows/catalog/sandbox.py) plus the views it can build on demand."""

    def __init__(self, store: DatasetStore, warn: Callable[[str], None] = stderr_warning):
        self.store, self.warn = store, warn
        self.con = sandboxed_connection()
        self._scans: dict[str, list[VersionScan]] = {}
        self._warned: set[str] = set()
        self._built: set[str] = set()
        self._plan = self._view_plan()

    def _view_plan(self) -> dict[str, Callable[[], None]]:
        plan: dict[str, Callable[[], None]] = {}
        names = self.store.names()
        for name in names:  # a dataset named like another's derived view keeps its own name: set it last
            plan[f"{name}_rejects"] = partial(self._latest, name, "rejects", f"{name}_rejects")
            plan[f"{name}_all"] = partial(self._all, name, "rows", f"{name}_all")
            plan[f"{name}_rejects_all"] = partial(self._all, name, "rejects", f"{name}_rejects_all")
        for name in names:
            plan[name] = partial(self._latest, name, "rows", name)
        if names:
            view = f"_{VERSIONS}" if VERSIONS in plan else VERSIONS
            plan[view] = partial(self._versions, view)
        if training_files(self.store.root):
            view = f"_{TRAININGS}" if TRAININGS in plan else TRAININGS
            plan[view] = partial(self._trainings, view)
        if eval_files(self.store.root):  # <root>/<dataset>/evals/*.parquet, written by `synthloom eval`
            view = f"_{EVALS}" if EVALS in plan else EVALS
            plan[view] = partial(self._evals, view)
        return plan

    def view_names(self) -> list[str]:
        return sorted(self._plan)

    def ensure(self, views: Iterable[str]) -> None:
        for view in views:
            if view in self._plan and view not in self._built:
                self._built.add(view)
                self._plan[view]()

    def ensure_for(self, sql: str) -> None:
        """Build every view whose name appears in `sql` as a word (a name inside a string costs only time)."""
        self.ensure(sorted({w.lower() for w in IDENTIFIER.findall(sql)} & self._plan.keys()))

    def ensure_all(self) -> None:
        self.ensure(self.view_names())

    def _versions_of(self, name: str) -> list[VersionScan]:
        if name not in self._scans:
            self._scans[name] = scan_versions(self.store, name)
        return self._scans[name]

    def _report(self, scans: list[VersionScan]) -> None:
        for scan in scans:
            if scan.problem and scan.ref not in self._warned:
                self._warned.add(scan.ref)
                self.warn(scan.warning())

    def _latest(self, name: str, table: str, view: str) -> None:
        """The newest intact version (an older one if the newest is corrupt, with a warning)."""
        scans = self._versions_of(name)
        for scan in reversed(scans):
            dataset = arrow_dataset([scan], table, with_version=False)
            self._report([scan])
            if scan.problem is None:
                if dataset is not None:
                    self.con.register(view, dataset)
                return

    def _all(self, name: str, table: str, view: str) -> None:
        scans = self._versions_of(name)
        dataset = arrow_dataset(scans, table, with_version=True)
        self._report(scans)
        if dataset is not None:
            self.con.register(view, dataset)

    def _versions(self, view: str) -> None:
        scans = [s.check() for name in self.store.names() for s in self._versions_of(name)]
        self._report(scans)
        self.con.register(view, versions_table(scans))

    def _trainings(self, view: str) -> None:
        self.con.register(view, trainings_table(training_files(self.store.root), self.warn))

    def _evals(self, view: str) -> None:
        self.con.register(view, arrow_ds.dataset([str(p) for p in eval_files(self.store.root)], format="parquet"))
