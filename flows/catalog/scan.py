"""Which versions the catalog may read, checked cheaply, and pyarrow datasets over their files.

A version is left out (with a warning naming it and the fix) when its manifest.json does not parse,
a file it records is missing or has another size than recorded, or (found by the scan itself) a
Parquet footer is unreadable. Nothing here hashes files: `synthloom datasets verify` does that.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from flows.store import DatasetStore

PARQUET = ds.ParquetFileFormat()
LOCAL = pa.fs.LocalFileSystem()


@dataclass
class VersionScan:
    """One published version as the catalog sees it: its manifest (raw JSON) and what is wrong, if anything."""

    name: str
    number: int
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    checked: bool = False

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.number}"

    def warning(self) -> str:
        return (
            f"{self.ref} left out of the catalog: {self.problem}; check it with "
            f"`synthloom datasets verify {self.ref}` and restore or remove {self.path}"
        )

    def files(self, table: str) -> list[Path]:
        recorded = recorded_sizes(self.manifest)
        if recorded:
            return sorted(self.path / rel for rel in recorded if rel.startswith(f"{table}/"))
        return sorted((self.path / table).glob("*.parquet"))

    def check(self) -> VersionScan:
        """Read the manifest and stat the files it records (once); sets `problem` if anything is off."""
        if not self.checked:
            self.checked, self.problem = True, self.problem or _problem(self)
        return self


def recorded_sizes(manifest: dict[str, Any]) -> dict[str, int | None]:
    """{relpath: size} from either manifest layout: {relpath: {size, ...}} or older {table: [{path, bytes}]}."""
    out: dict[str, int | None] = {}
    for key, entry in (manifest.get("files") or {}).items():
        if isinstance(entry, list):
            out.update({part["path"]: part.get("bytes") for part in entry})
        else:
            out[key] = entry.get("size")
    return out


def scan_versions(store: DatasetStore, name: str) -> list[VersionScan]:
    """Every published version of `name`, oldest first, not yet checked (see VersionScan.check)."""
    return [VersionScan(name, v.number, v.path) for v in store.versions(name)]


def _problem(scan: VersionScan) -> str | None:
    base = str(scan.path)  # plain strings: pathlib was a third of this at 1000 versions
    try:
        with open(os.path.join(base, "manifest.json"), "rb") as fh:
            manifest = json.loads(fh.read())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("rows"), int):
            return "manifest.json is incomplete (no row count)"
        scan.manifest = manifest
        recorded = recorded_sizes(manifest)
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as err:
        return f"manifest.json is unreadable ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
    for rel, size in recorded.items():
        try:
            actual = os.stat(os.path.join(base, rel)).st_size
        except OSError:
            return f"{rel} is missing"
        if size is not None and actual != size:
            return f"{rel} has {actual} bytes, its manifest says {size}"
    return None


def footer_problem(path: Path) -> str | None:
    try:
        pq.read_metadata(path)
    except (OSError, pa.ArrowException) as err:
        return f"{path.parent.name}/{path.name} is not readable Parquet ({str(err).splitlines()[0]})"
    return None


def arrow_dataset(scans: list[VersionScan], table: str, with_version: bool) -> ds.Dataset | None:
    """One dataset over `table` of every intact scan (plus a `version` column, first, if asked).

    Fast path: one schema inspection over all files, which reads every footer once. Only if that
    fails are footers read one by one: broken versions are marked and left out; if none is broken,
    the failure was a type conflict between versions, and those columns are read as text.
    """
    intact = [s for s in scans if s.check().problem is None]
    files = [(s, f) for s in intact for f in s.files(table)]
    if not files:
        return None
    paths = [str(f) for _, f in files]
    try:
        schema = _schema(paths)
    except (OSError, pa.ArrowException):
        if _mark_broken(files):
            return arrow_dataset(scans, table, with_version)
        schema = _lenient_schema(paths)
    if not with_version:
        return ds.FileSystemDataset.from_paths(paths, schema, PARQUET, LOCAL)
    return ds.FileSystemDataset.from_paths(
        paths,
        schema.insert(0, pa.field("version", pa.int32())),  # first: DuckDB's count(*) then reads no file column
        PARQUET,
        LOCAL,
        partitions=[ds.field("version") == s.number for s, _ in files],
    )


def _schema(paths: list[str]) -> pa.Schema:
    factory = ds.FileSystemDatasetFactory(LOCAL, paths, PARQUET, ds.FileSystemFactoryOptions())
    return factory.inspect(promote_options="permissive")


def _mark_broken(files: list[tuple[VersionScan, Path]]) -> bool:
    broken = False
    for scan, path in files:
        if scan.problem is None and (problem := footer_problem(path)):
            scan.problem, broken = problem, True
    return broken


def _lenient_schema(paths: list[str]) -> pa.Schema:
    """The union of the files' columns; a column no promotion reconciles (int here, text there) becomes text."""
    types: dict[str, list[pa.DataType]] = {}
    for path in paths:
        for f in pq.read_schema(path):
            types.setdefault(f.name, []).append(f.type)
    fields = []
    for name, seen in types.items():
        try:
            merged = pa.unify_schemas([pa.schema([(name, t)]) for t in seen], promote_options="permissive")
            fields.append(merged.field(0))
        except pa.ArrowException:
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)
