"""Versioned, immutable Parquet datasets.

Layout: <root>/<name>/v<N>/{rows/part-*.parquet, rejects/part-*.parquet, manifest.json}.
A version is written in full to a hidden temp dir beside the versions, manifest last (with each
file's size and SHA-256), made read-only, then moved into place with one atomic rename. Every publish
holds the dataset's lock (flows/store/locks.py); should two publishes still race for a number (another
machine, no working flock), the loser's rename fails and it retries with the next number. A crash
leaves only a hidden temp dir named after its process, which readers never see and the next publish
removes (`gc_temp`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from flows.store.locks import FOREVER, dataset_lock, wait_seconds
from flows.store.tempdirs import remove_abandoned, rmtree, temp_name
from schemas.errors import CorruptVersionError, DatasetError

if TYPE_CHECKING:  # pydantic is imported when a manifest is parsed or written: `synthloom query` never needs it
    from flows.store.spill import Spill
    from schemas.manifest import Manifest

    Rows = pa.Table | Spill

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")  # always fullmatch: `$` would let "evil\n" through
VERSION_RE = re.compile(r"v([1-9][0-9]*)")
TABLES = ("rows", "rejects")
ROWS_PER_PART = 100_000
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY_FILE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH  # 0444
READ_ONLY_DIR = READ_ONLY_FILE | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH  # 0555


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
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
    m = VERSION_RE.fullmatch(ver)
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
        from pydantic import ValidationError

        from schemas.manifest import Manifest

        path = self.path / "manifest.json"
        try:
            return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValidationError) as err:
            why = f"{type(err).__name__}: {str(err).splitlines()[0]}"
            raise CorruptVersionError(f"{self.ref} is corrupt: {path} is unreadable ({why}); {self.fix()}") from None

    def fix(self) -> str:
        return (
            f"check it with `synthloom datasets verify {self.ref}`, then restore {self.path} from a backup "
            "or move it out of the store (other versions are unaffected)"
        )

    def read(self, table: str = "rows") -> pa.Table:
        return pq.read_table(self.path / table)

    def batches(self, table: str = "rows", columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The table's record batches, read part file by part file in bounded memory."""
        for path in self.files(table):
            yield from parquet_batches(path, columns)


def parquet_batches(path: Path, columns: list[str] | None = None, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
    """A Parquet file's record batches in bounded memory: with pyarrow's default pre-buffering, every
    column chunk read so far stays in memory until the file is closed (296 MiB at 1M rows)."""
    return pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_size, columns=columns)


class DatasetStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and NAME_RE.fullmatch(p.name) and next(self._version_dirs(p.name), None)
        )

    def versions(self, name: str) -> list[Version]:
        """Published versions, oldest first: folders `vN` with a manifest.json (its content is not read)."""
        found = [Version(name, number, path) for number, path in self._version_dirs(name)]
        return sorted(found, key=lambda v: v.number)

    def _version_dirs(self, name: str) -> Iterator[tuple[int, Path]]:
        """(number, folder) of each published version, in directory order (one stat each: the manifest)."""
        base = self.root / check_name(name)
        try:
            entries = list(os.scandir(base))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            m = VERSION_RE.fullmatch(entry.name)
            if m and entry.is_dir() and os.path.isfile(os.path.join(entry.path, "manifest.json")):
                yield int(m.group(1)), Path(entry.path)

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

    def publish(self, name: str, tables: dict[str, Rows], manifest: Manifest) -> Version:
        """Write a new immutable version under the dataset's lock; returns it. `tables` needs 'rows' and
        'rejects', each a `pa.Table` or anything that reads like one batch by batch (a `Spill`)."""
        check_name(name)
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise DatasetError(f"publish of {name} lacks tables {missing}")
        with dataset_lock(self.root, name, f"a publish of {name}", wait_seconds(FOREVER)):
            base = self.root / name
            base.mkdir(parents=True, exist_ok=True)
            self.gc_temp(name)
            tmp = base / temp_name()
            tmp.mkdir()
            try:
                files: dict[str, Any] = {}
                for t in TABLES:
                    files.update(_write_parts(tmp, t, tables[t]))
                return self._commit(name, tmp, manifest, files)
            except OSError as err:
                rmtree(tmp)
                if err.errno in FULL_DISK:
                    raise DatasetError(
                        f"disk full while publishing {name} under {self.root} ({err.strerror}): nothing was "
                        "published; free some space and run the command again"
                    ) from None
                raise
            except BaseException:
                rmtree(tmp)
                raise

    def _commit(self, name: str, tmp: Path, manifest: Manifest, files: dict[str, Any]) -> Version:
        from schemas.manifest import FileEntry

        number = self._next_number(name)
        entries = {path: FileEntry(**entry) for path, entry in files.items()}
        while True:
            final = manifest.model_copy(update={"name": name, "version": number, "files": entries, "format": 2})
            (tmp / "manifest.json").unlink(missing_ok=True)  # a retry rewrites its (read-only) manifest
            _write_json(tmp / "manifest.json", final.model_dump(mode="json"))
            _make_read_only(tmp)
            target = self.root / name / f"v{number}"
            try:
                os.rename(tmp, target)
            except OSError as err:
                if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    number += 1  # taken: someone else published this number first, or a stray file has the name
                    continue
                raise
            _fsync_dir(target.parent)
            return Version(name, number, target)

    def _next_number(self, name: str) -> int:
        """One past every `vN` entry (a stray file or a version without manifest counts as taken)."""
        taken = [int(m.group(1)) for p in (self.root / name).iterdir() if (m := VERSION_RE.fullmatch(p.name))]
        return max(taken, default=0) + 1

    def gc_temp(self, name: str) -> int:
        """Remove temp dirs of dead processes: killed publishes (`.tmp-*`) and card writes (`vN/card.tmp-*`)."""
        base = self.root / check_name(name)
        if not base.is_dir():
            return 0
        return remove_abandoned([*base.glob(".tmp-*"), *base.glob("v*/card.tmp-*")])


def _write_parts(tmp: Path, table_name: str, rows: Rows) -> dict[str, dict[str, Any]]:
    """Write `rows` as part files of ROWS_PER_PART rows (one row group each) under tmp/table_name,
    reading them a record batch at a time (a `Spill` never loads whole); returns {relpath: {size,
    sha256, rows}}."""
    folder = tmp / table_name
    folder.mkdir()
    parts: dict[str, dict[str, Any]] = {}

    def write(batches: list[pa.RecordBatch]) -> None:
        path = folder / f"part-{len(parts):05d}.parquet"
        chunk = pa.Table.from_batches(batches, schema=rows.schema)
        if chunk.num_rows:
            pq.write_table(chunk, path, compression="zstd")
        else:  # no row group at all: an empty row group breaks HF datasets' parquet reader
            pq.ParquetWriter(path, rows.schema, compression="zstd").close()
        size, digest = file_digest(path, fsync=True)
        parts[f"{table_name}/{path.name}"] = {"size": size, "sha256": digest, "rows": chunk.num_rows}

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in rows.to_batches():
        while count + batch.num_rows >= ROWS_PER_PART:
            take = ROWS_PER_PART - count
            write([*pending, batch.slice(0, take)])
            pending, count, batch = [], 0, batch.slice(take)
        if batch.num_rows:
            pending.append(batch)
            count += batch.num_rows
    if count or not parts:
        write(pending)
    return parts


def file_digest(path: Path, fsync: bool = False) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read once."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
        if fsync:
            os.fsync(fh.fileno())
    return size, h.hexdigest()


def _make_read_only(tmp: Path) -> None:
    """Files 0444, table folders 0555; the version folder stays writable for its dataset card."""
    for table in TABLES:
        for p in (tmp / table).iterdir():
            os.chmod(p, READ_ONLY_FILE)
        os.chmod(tmp / table, READ_ONLY_DIR)
    os.chmod(tmp / "manifest.json", READ_ONLY_FILE)


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
