"""Versioned, immutable Parquet datasets.

Layout: <root>/<name>/v<N>/{rows/part-*.parquet, rejects/part-*.parquet, manifest.json}.
A version is written in full to a hidden temp dir beside the versions, manifest last, then moved
into place with one atomic rename. Two publishes racing for the same number: the loser's rename
fails (the target exists and is not empty), and it retries with the next number. A crash leaves
only a hidden temp dir, which readers never see and `gc_temp` removes.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.errors import DatasetError
from schemas.manifest import Manifest

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")
TABLES = ("rows", "rejects")
ROWS_PER_PART = 100_000


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise DatasetError(
            f"invalid dataset name {name!r}: use lowercase letters, digits and '_', starting with a "
            "letter, at most 63 characters (it becomes a directory and a DuckDB view name), e.g. 'magpie_demo'"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'name' -> (name, None) (latest); 'name@v3' -> (name, 3)."""
    name, _, ver = ref.partition("@")
    check_name(name)
    if not ver:
        return name, None
    m = VERSION_RE.match(ver)
    if not m:
        raise DatasetError(f"invalid version {ver!r} in {ref!r}: write NAME@vN, e.g. {name}@v1")
    return name, int(m.group(1))


@dataclass(frozen=True)
class Version:
    name: str
    number: int
    path: Path

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.number}"

    def files(self, table: str = "rows") -> list[Path]:
        return sorted((self.path / table).glob("*.parquet"))

    def manifest(self) -> Manifest:
        return Manifest.model_validate_json((self.path / "manifest.json").read_text(encoding="utf-8"))

    def read(self, table: str = "rows") -> pa.Table:
        return pq.read_table(self.path / table)


class DatasetStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and NAME_RE.match(p.name) and self.versions(p.name)
        )

    def versions(self, name: str) -> list[Version]:
        base = self.root / check_name(name)
        if not base.is_dir():
            return []
        found = []
        for p in base.iterdir():
            m = VERSION_RE.match(p.name)
            if m and (p / "manifest.json").is_file():
                found.append(Version(name, int(m.group(1)), p))
        return sorted(found, key=lambda v: v.number)

    def get(self, ref: str) -> Version:
        name, number = parse_ref(ref)
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none yet"
            raise DatasetError(f"no dataset named {name!r} under {self.root} (datasets: {known})")
        if number is None:
            return versions[-1]
        for v in versions:
            if v.number == number:
                return v
        have = ", ".join(f"v{v.number}" for v in versions)
        raise DatasetError(f"{name} has no version v{number} (versions: {have})")

    def publish(self, name: str, tables: dict[str, pa.Table], manifest: Manifest) -> Version:
        """Write a new immutable version; returns it. `tables` needs 'rows' and 'rejects'."""
        check_name(name)
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise DatasetError(f"publish of {name} lacks tables {missing}")
        base = self.root / name
        base.mkdir(parents=True, exist_ok=True)
        tmp = base / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            files = {t: _write_parts(tmp / t, tables[t]) for t in TABLES}
            return self._commit(name, tmp, manifest, files)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _commit(self, name: str, tmp: Path, manifest: Manifest, files: dict[str, Any]) -> Version:
        latest = self.versions(name)
        number = latest[-1].number + 1 if latest else 1
        while True:
            final = manifest.model_copy(update={"name": name, "version": number, "files": files})
            _write_json(tmp / "manifest.json", final.model_dump(mode="json"))
            target = self.root / name / f"v{number}"
            try:
                os.rename(tmp, target)
            except OSError as err:
                if err.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    number += 1  # someone else published this number first
                    continue
                raise
            _fsync_dir(target.parent)
            return Version(name, number, target)

    def gc_temp(self, name: str) -> int:
        """Remove temp dirs left by crashed publishes. Returns how many."""
        base = self.root / check_name(name)
        stale = list(base.glob(".tmp-*")) if base.is_dir() else []
        for p in stale:
            shutil.rmtree(p, ignore_errors=True)
        return len(stale)


def _write_parts(folder: Path, table: pa.Table) -> list[dict[str, Any]]:
    folder.mkdir()
    parts = []
    n_parts = max(1, -(-table.num_rows // ROWS_PER_PART))
    for i in range(n_parts):
        chunk = table.slice(i * ROWS_PER_PART, ROWS_PER_PART)
        path = folder / f"part-{i:05d}.parquet"
        if chunk.num_rows:
            pq.write_table(chunk, path, compression="zstd")
        else:  # no row group at all: an empty row group breaks HF datasets' parquet reader
            pq.ParquetWriter(path, table.schema, compression="zstd").close()
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        parts.append({"path": f"{folder.name}/{path.name}", "rows": chunk.num_rows, "bytes": path.stat().st_size})
    return parts


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
