"""Rows seen before: what a batch is checked against. `Store` is the interface (a persisted index's
rows implement it in filters/dedup/index.py); `RunStore` holds this run's earlier batches.

Each stored row has a position (arrival order within its store), a global rank (`rank0` +
position) and the rank of its cluster's kept row (its root). `RunStore` keeps, per row, the sorted
runs' keys (filters/dedup/runs.py, about 12 bytes per band), exact hash, root, id, and the offset of
its normalized text in a spill file; texts are read back one by one (`os.pread`) only for candidates.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from filters.dedup.runs import Runs
from filters.dedup.sketches import within

Described = tuple[list[str], list[str], np.ndarray, list[str]]  # ids, version labels, exact hashes, texts


class Grow:
    """A numpy array appended to in place (capacity doubles)."""

    def __init__(self, dtype: type):
        self.data = np.empty(1024, dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        if self.n + len(values) > len(self.data):
            bigger = np.empty(max(2 * len(self.data), self.n + len(values)), self.data.dtype)
            bigger[: self.n] = self.data[: self.n]
            self.data = bigger
        self.data[self.n : self.n + len(values)] = values
        self.n += len(values)

    @property
    def values(self) -> np.ndarray:
        return self.data[: self.n]


class Store:
    """The lookups shared by every store; subclasses say how roots and rows are read."""

    def __init__(self, rank0: int, runs: Runs | None = None):
        self.rank0 = rank0
        self.size = 0
        self.runs = runs or Runs()

    def exact(self, hashes: np.ndarray) -> np.ndarray:
        """Position of the earliest stored row with each hash, or -1."""
        return self.runs.exact(hashes) if self.size else np.full(len(hashes), -1, np.int64)

    def near(self, keys: np.ndarray, cap: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, stored position, rank) for stored rows sharing a band key with a query: per
        query at most `cap`, ranked by bands shared (most first), then position (earliest first).
        Sorted by rank, then query. Queries go `chunk` at a time to bound the memory of the matching."""
        q, p, rank = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for lo in range(0, len(keys) if self.size else 0, chunk):
            part = self._near(keys[lo : lo + chunk], cap)
            q.append(part[0] + lo)
            p.append(part[1])
            rank.append(part[2])
        q, p, rank = np.concatenate(q), np.concatenate(p), np.concatenate(rank)
        order = np.lexsort((q, rank))
        return q[order], p[order], rank[order]

    def _near(self, keys: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q, p = self.runs.band_matches(keys, cap)
        width = self.size + 1
        codes, shared = np.unique(q * width + p, return_counts=True)
        q, p = codes // width, codes % width
        order = np.lexsort((p, -shared, q))
        q, p = q[order], p[order]
        rank = within(np.bincount(q, minlength=len(keys)))
        keep = rank < cap
        return q[keep], p[keep], rank[keep]

    def roots(self, pos: np.ndarray) -> np.ndarray:
        """Rank of each row's cluster's kept row."""
        raise NotImplementedError

    def texts(self, pos: np.ndarray) -> list[str]:
        raise NotImplementedError

    def describe(self, pos: np.ndarray) -> Described:
        raise NotImplementedError


def string_parts(texts: pa.Array) -> tuple[np.ndarray, memoryview]:
    """(offsets from 0, UTF-8 bytes) of a string array without nulls."""
    texts = texts.cast(pa.large_string())
    raw = np.frombuffer(texts.buffers()[1], np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = texts.buffers()[2]
    body = memoryview(data)[int(raw[0]) : int(raw[-1])] if data is not None else memoryview(b"")
    return raw - raw[0], body


class SpillTexts:
    """Normalized texts appended to one file; read back by offset, one pread per text."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.offsets = Grow(np.int64)
        self.offsets.extend(np.zeros(1, np.int64))

    def add(self, texts: pa.Array) -> None:
        offsets, body = string_parts(texts)
        end = int(self.offsets.values[-1])
        os.pwrite(self.fd, body, end)
        self.offsets.extend(offsets[1:] + end)

    def get(self, pos: np.ndarray) -> list[str]:
        start, end = self.offsets.values[pos].tolist(), self.offsets.values[pos + 1].tolist()
        return [os.pread(self.fd, e - s, s).decode("utf-8") for s, e in zip(start, end, strict=True)]

    def close(self) -> None:
        os.close(self.fd)


class RunStore(Store):
    """This run's earlier batches (kept and dropped rows alike: a later row may match either)."""

    def __init__(self, rank0: int, spill_dir: Path):
        super().__init__(rank0)
        self.hashes, self.root = Grow(np.uint64), Grow(np.int64)
        self.ids: list[pa.Array] = []
        self.text = SpillTexts(spill_dir / "texts.bin")

    def append(self, hashes: np.ndarray, keys: np.ndarray, roots: np.ndarray, ids: pa.Array, texts: pa.Array) -> None:
        self.runs.append(hashes, keys, self.size)
        self.hashes.extend(hashes)
        self.root.extend(roots)
        self.ids.append(ids)
        if len(self.ids) > 32:
            self.ids = [pa.chunked_array(self.ids, pa.string()).combine_chunks()]
        self.text.add(texts)
        self.size += len(hashes)

    def roots(self, pos: np.ndarray) -> np.ndarray:
        return self.root.values[pos]

    def texts(self, pos: np.ndarray) -> list[str]:
        return self.text.get(pos)

    def describe(self, pos: np.ndarray) -> Described:
        ids = pa.chunked_array(self.ids, pa.string()).take(pa.array(pos, pa.int64())).to_pylist()
        return ids, [""] * len(pos), self.hashes.values[pos], self.texts(pos)

    def close(self) -> None:
        self.text.close()
