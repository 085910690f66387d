"""The persisted cross-version index (`DedupIndex`): every published row's sketch, on disk.

    <index dir>/meta.json              the sketch settings (an index only works with the same ones)
    <index dir>/seg-NNNNNN.parquet     one per `add`: id, version, exact, bands, text (the record; segments
                                       written before the lookup existed also hold each row's signature)
    <index dir>/lookup/                derived from the segments (rebuilt from them when missing or behind)
        state.json                     the segments it covers (rows, versions) and its sorted runs
        seg-NNNNNN.arrow               per segment: id, version, exact, text (Arrow IPC, uncompressed)
        run-<hex>/keys.npy, pos.npy    a sorted run (filters/dedup/runs.py): row 0 the exact hashes,
                                       row 1 + b band b's keys, with the positions they belong to

Opening reads state.json and memory-maps the files: no row is read until a lookup needs it, so
opening costs the same at 1 or 1000 versions, and a lookup costs log(rows) per key per run (runs
merge like a binary counter: at most log2(adds) of them) plus the candidate texts it reads.
"""

from __future__ import annotations

import json
import mmap
import os
import resource
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filters.dedup.batches import batches_of
from filters.dedup.runs import POS, Run, build, merge, should_merge
from filters.dedup.sketches import permutations, row_ids, sketch
from filters.dedup.store import Described, Store
from schemas.dedup_config import DedupConfig
from schemas.errors import ConfigError

ROW_GROUP_ROWS = 8192
LOOKUP_FORMAT = 2
OPEN_SEGMENTS = max(64, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 4)  # a map holds a descriptor
_ROWS_SCHEMA = pa.schema([("id", pa.string()), ("version", pa.string()), ("exact", pa.uint64()), ("text", pa.string())])


def _segment_schema(cfg: DedupConfig) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("version", pa.string()),
            ("exact", pa.uint64()),
            ("bands", pa.list_(pa.uint64(), cfg.bands)),
            ("text", pa.string()),
        ]
    )


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}.json")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    _fsync(tmp)
    os.replace(tmp, path)


class _DiskAlloc:
    """Run arrays as rows of two .npy files in `directory` (row 0 the exact hashes, then one per band),
    each filled in memory and written out when the next is asked for: one row's worth of memory, where
    a memory-mapped file would keep every page written resident until the whole run is done. The same
    two buffers are handed out for every row, so the `Run` that `build`/`merge` return with this
    allocator is not usable: `_disk_run` opens the run from its files instead."""

    def __init__(self, directory: Path, bands: int, n: int):
        directory.mkdir(parents=True)
        self.directory = directory
        self.files: list[tuple[int, int, int]] = []  # (fd, data offset, bytes per row)
        for name, dtype in (("keys", np.uint64), ("pos", POS)):
            header = np.lib.format.open_memmap(directory / f"{name}.npy", "w+", dtype, (bands + 1, n))
            offset = header.offset
            del header  # the file has its header and full size; rows are written into it below
            self.files.append((os.open(directory / f"{name}.npy", os.O_WRONLY), offset, np.dtype(dtype).itemsize * n))
        self.row = 0
        self.buffers = (np.empty(n, np.uint64), np.empty(n, POS))
        self.pending: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        self._write_pending()
        self.pending = self.buffers
        return self.pending

    def _write_pending(self) -> None:
        if self.pending is None:
            return
        for (fd, offset, row_bytes), values in zip(self.files, self.pending, strict=True):
            _pwrite_all(fd, memoryview(values).cast("B"), offset + self.row * row_bytes)
        self.row += 1
        self.pending = None

    def flush(self) -> None:
        self._write_pending()
        for fd, _, _ in self.files:
            os.fsync(fd)
            os.close(fd)
        self.files = []


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        done = os.pwrite(fd, data, offset)
        data, offset = data[done:], offset + done


def _map(path: Path) -> mmap.mmap:
    """A read-only map of a file without readahead: a lookup touches scattered pages, and each page
    read ahead would count in the process's resident memory."""
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    mapped.madvise(mmap.MADV_RANDOM)
    return mapped


def _load_npy(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")  # readahead kept: lookups touch most pages of a run anyway


def _open_run(directory: Path, first: int, size: int) -> Run:
    keys, pos = _load_npy(directory / "keys.npy"), _load_npy(directory / "pos.npy")
    return Run(first, size, keys[0], pos[0], list(keys[1:]), list(pos[1:]), where=directory)


class IndexStore(Store):
    """The index's rows as a `Store` (rank = position; every indexed row is its own root)."""

    def __init__(self, lookup: Path):
        super().__init__(0)
        self.lookup = lookup
        self.names: list[str] = []
        self.firsts = np.zeros(1, np.int64)
        self._open: OrderedDict[int, pa.Table] = OrderedDict()

    def set_segments(self, names: list[str], rows: list[int]) -> None:
        self.names = names
        self.firsts = np.r_[0, np.cumsum(rows, dtype=np.int64)]
        self.size = int(self.firsts[-1])
        self._open.clear()

    def _table(self, k: int) -> pa.Table:
        """Segment k's rows, memory-mapped; the most recent `OPEN_SEGMENTS` stay open (a quarter of the
        file descriptor limit: a check may touch every one of a thousand segments)."""
        if k in self._open:
            self._open.move_to_end(k)
            return self._open[k]
        path = self.lookup / self.names[k].replace(".parquet", ".arrow")
        self._open[k] = pa.ipc.open_file(pa.py_buffer(_map(path))).read_all()
        if len(self._open) > OPEN_SEGMENTS:
            self._open.popitem(last=False)
        return self._open[k]

    def _take(self, pos: np.ndarray, columns: tuple[str, ...]) -> list[list]:
        out: list[list] = [[None] * len(pos) for _ in columns]
        seg = np.searchsorted(self.firsts, pos, "right") - 1
        for k in np.unique(seg).tolist():
            sel = np.flatnonzero(seg == k)
            part = self._table(k).take(pa.array(pos[sel] - self.firsts[k], pa.int64()))
            for column, values in zip(out, (part.column(c).to_pylist() for c in columns), strict=True):
                for i, value in zip(sel.tolist(), values, strict=True):
                    column[i] = value
        return out

    def roots(self, pos: np.ndarray) -> np.ndarray:
        return np.asarray(pos, np.int64)

    def texts(self, pos: np.ndarray) -> list[str]:
        return self._take(pos, ("text",))[0]

    def describe(self, pos: np.ndarray) -> Described:
        ids, versions, exact, texts = self._take(pos, ("id", "version", "exact", "text"))
        return ids, versions, np.array(exact, np.uint64), texts


class DedupIndex:
    """Sketches of every published row of a dataset, in `directory` (e.g. `<dataset dir>/.dedup-index/`);
    layout in the module docstring. One writer at a time; a crash leaves `.tmp-*` files, a segment
    the lookup does not cover yet (caught up on the next open) or unreferenced runs (removed)."""

    def __init__(self, directory: Path | str, config: DedupConfig | None = None):
        self.directory = Path(directory)
        self.config = config or DedupConfig()
        self.lookup = self.directory / "lookup"
        self.store = IndexStore(self.lookup)
        self._perm = permutations(self.config.num_perm, self.config.seed)
        self._state: dict = {"format": LOOKUP_FORMAT, "segments": [], "runs": []}
        self._check_meta()
        self._open()

    def __len__(self) -> int:
        return self.store.size

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob("seg-*.parquet"), key=lambda p: p.name) if self.directory.is_dir() else []

    def versions(self) -> set[str]:
        """Version labels with rows in the index."""
        return {v for seg in self._state["segments"] for v in seg["versions"]}

    def check(self, config: DedupConfig) -> None:
        if config.sketch_settings() != self.config.sketch_settings():
            raise ConfigError(
                f"dedup index {self.directory} was opened with {self.config.sketch_settings()}, "
                f"the dedup config has {config.sketch_settings()}: open the index with the same config"
            )

    def _check_meta(self) -> None:
        meta = self.directory / "meta.json"
        if not meta.is_file():
            return
        stored = json.loads(meta.read_text(encoding="utf-8"))["sketch"]
        if stored != self.config.sketch_settings():
            raise ConfigError(
                f"dedup index {self.directory} holds sketches made with {stored}; this config has "
                f"{self.config.sketch_settings()}. Use the same settings, or delete the directory and "
                "rebuild it by adding the published versions again"
            )

    def _write_meta(self) -> None:
        meta = self.directory / "meta.json"
        if not meta.is_file():
            _write_json(meta, {"format": 1, "sketch": self.config.sketch_settings()})

    # ------------------------------------------------------------ the lookup (derived)

    def _open(self) -> None:
        state_path = self.lookup / "state.json"
        if state_path.is_file():
            state = json.loads(state_path.read_text(encoding="utf-8"))
            names = [s.name for s in self.segments()]
            covered = [s["name"] for s in state["segments"]]
            if state.get("format") == LOOKUP_FORMAT and names[: len(covered)] == covered:
                self._state = state
            else:  # a segment went missing or an older lookup: rebuild it from the segments
                shutil.rmtree(self.lookup)
        self._load_state()
        for path in self.segments()[len(self._state["segments"]) :]:
            self._catch_up(path)

    def _load_state(self) -> None:
        segs = self._state["segments"]
        self.store.set_segments([s["name"] for s in segs], [s["rows"] for s in segs])
        self.store.runs.runs = [_open_run(self.lookup / r["dir"], r["first"], r["size"]) for r in self._state["runs"]]

    def _catch_up(self, path: Path) -> None:
        """Derive the lookup files of a segment the lookup does not cover (older index, or a crash)."""
        table = pq.read_table(path, columns=["id", "version", "exact", "bands", "text"])
        keys = table.column("bands").combine_chunks().flatten().to_numpy().reshape(-1, self.config.bands)
        rows = table.select(["id", "version", "exact", "text"]).cast(_ROWS_SCHEMA)
        self.lookup.mkdir(parents=True, exist_ok=True)
        tmp = self.lookup / f".tmp-{uuid.uuid4().hex}.arrow"
        with pa.ipc.new_file(tmp, _ROWS_SCHEMA) as writer:
            writer.write_table(rows)
        self._cover(path.name, tmp, rows.column("exact").to_numpy(), keys, rows.column("version").unique().to_pylist())

    def _cover(
        self, name: str, rows_file: Path, hashes: np.ndarray, keys: np.ndarray | list[np.ndarray], versions: list[str]
    ) -> None:
        """Add a committed segment's rows to the lookup: its rows file, a run (merged as runs merge),
        then the new state, written atomically; superseded runs are deleted last."""
        os.replace(rows_file, self.lookup / name.replace(".parquet", ".arrow"))
        runs = self.store.runs.runs
        first = self.store.size
        runs.append(self._disk_run(first, len(hashes), lambda alloc: build(hashes, keys, first, alloc)))
        while should_merge(runs):
            b, a = runs.pop(), runs.pop()
            runs.append(self._disk_run(a.first, a.size + b.size, lambda alloc, a=a, b=b: merge(a, b, alloc)))
        self._state["segments"].append({"name": name, "rows": len(hashes), "versions": sorted(versions)})
        self._state["runs"] = [{"dir": r.where.name, "first": r.first, "size": r.size} for r in runs]
        _write_json(self.lookup / "state.json", self._state)
        self._clean()
        self._load_state()

    def _disk_run(self, first: int, n: int, make) -> Run:
        alloc = _DiskAlloc(self.lookup / f"run-{uuid.uuid4().hex}", self.config.bands, n)
        make(alloc)
        alloc.flush()
        return _open_run(alloc.directory, first, n)

    def _clean(self) -> None:
        keep = {r["dir"] for r in self._state["runs"]}
        for path in self.lookup.glob("run-*"):
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------ adding a version

    def add(self, rows: pa.Table | Iterable[pa.RecordBatch], version_label: str) -> int:
        """Index published rows under `version_label` (call after publish). Rows with empty text or a
        text already indexed are skipped. Returns how many rows were added."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.lookup.mkdir(exist_ok=True)
        self._write_meta()
        tmp = self.directory / f".tmp-{uuid.uuid4().hex}.parquet"
        rows_tmp = self.lookup / f".tmp-{uuid.uuid4().hex}.arrow"
        try:
            hashes, keys = self._write_segment(rows, version_label, tmp, rows_tmp)
            if len(hashes):
                self._cover(self._commit(tmp).name, rows_tmp, hashes, keys, [version_label])
            return len(hashes)
        finally:
            tmp.unlink(missing_ok=True)
            rows_tmp.unlink(missing_ok=True)

    def _write_segment(
        self, rows: pa.Table | Iterable[pa.RecordBatch], label: str, tmp: Path, rows_tmp: Path
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Write the segment and its rows file; returns the new rows' exact hashes and band keys (in
        pieces, one per batch: build reads them a band at a time, so they are never copied whole)."""
        hashes, keys = [np.empty(0, np.uint64)], [np.empty((0, self.config.bands), np.uint64)]
        with (
            pq.ParquetWriter(tmp, _segment_schema(self.config), compression="zstd") as writer,
            pa.ipc.new_file(rows_tmp, _ROWS_SCHEMA) as rows_writer,
        ):
            for batch in batches_of(rows, self.config.batch_rows):
                part, part_keys = self._segment_rows(batch, label, np.concatenate(hashes))
                writer.write_table(part, row_group_size=ROW_GROUP_ROWS)
                rows_writer.write_table(part.select(["id", "version", "exact", "text"]))
                hashes.append(part.column("exact").to_numpy())
                keys.append(part_keys)
        _fsync(tmp)
        return np.concatenate(hashes), keys

    def _segment_rows(self, batch: pa.RecordBatch, label: str, seen: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        sk = sketch(batch, self.config, self._perm)
        hashes = sk.hashes[sk.reps]
        new = np.flatnonzero((self.store.exact(hashes) < 0) & ~np.isin(hashes, seen))
        rows = pa.array(sk.reps[new], pa.int64())
        columns = [
            row_ids(batch, 0).take(rows),
            pa.array([label] * len(new), pa.string()),
            pa.array(hashes[new], pa.uint64()),
            pa.FixedSizeListArray.from_arrays(pa.array(sk.keys[new].ravel(), pa.uint64()), self.config.bands),
            sk.norm.take(rows),
        ]
        return pa.Table.from_arrays(columns, schema=_segment_schema(self.config)), sk.keys[new]

    def _commit(self, tmp: Path) -> Path:
        """Link the finished temp file in as the next segment: atomic, and never replaces one."""
        number = len(self.segments()) + 1
        while True:
            final = self.directory / f"seg-{number:06d}.parquet"
            try:
                os.link(tmp, final)
            except FileExistsError:
                number += 1
                continue
            _fsync(self.directory, directory=True)
            return final
