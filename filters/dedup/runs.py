"""Sorted runs of keys: how rows seen before are found by exact hash or LSH band key.

A run covers consecutive stored positions and holds, sorted, their exact hashes and each band's
keys, with the positions they belong to (equal keys in position order). A lookup sorts its query
keys and binary-searches each run (cost: queries x log(run size), with the sorted queries walking
the run front to back); nothing is re-merged per query. Runs are merged like a binary counter (the
newest into the one before it while that one is at most twice its size), so there are at most
log2(rows / batch) of them and each row is rewritten O(log rows) times: linear merges (one
`searchsorted` + scatter, no re-sort), band by band, so a merge needs one band's worth of extra memory.
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from filters.dedup.sketches import within

POS = np.uint32  # positions within one store: up to 4e9 rows
Alloc = Callable[[str, int], tuple[np.ndarray, np.ndarray]]  # (name, rows) -> (keys, positions) to fill


@dataclass
class Run:
    """Rows first .. first + size - 1 of a store; arrays may be memory-mapped files."""

    first: int
    size: int
    exact: np.ndarray  # sorted exact hashes (uint64)
    exact_pos: np.ndarray  # their positions (uint32)
    keys: MutableSequence[np.ndarray]  # per band: sorted keys (uint64)
    pos: MutableSequence[np.ndarray]  # per band: their positions (uint32)
    where: Path | None = None  # the directory of its files, when on disk


def sort_into(keys: np.ndarray, first: int, out_keys: np.ndarray, out_pos: np.ndarray) -> None:
    order = np.argsort(keys, kind="stable")  # stable: for equal keys, earlier positions first
    out_keys[:] = keys[order]
    out_pos[:] = order.astype(POS) + POS(first)


def merge_into(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], out: tuple[np.ndarray, ...]) -> None:
    """Merge two sorted (keys, positions) pairs, all of b's positions after a's, into `out` (keys,
    positions): b's elements go after a's equal keys, so equal keys stay in position order."""
    at = np.searchsorted(a[0], b[0], "right") + np.arange(len(b[0]))
    rest = np.ones(len(a[0]) + len(b[0]), bool)
    rest[at] = False
    for k in range(2):
        out[k][at] = b[k]
        out[k][rest] = a[k]


def memory_alloc(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty(n, np.uint64), np.empty(n, POS)


def build(hashes: np.ndarray, keys: np.ndarray | list[np.ndarray], first: int, alloc: Alloc = memory_alloc) -> Run:
    """A run of rows `first`.. with these exact hashes and band keys (rows x bands; or such arrays
    in pieces, consecutive rows each, read one band at a time so they are never joined whole)."""
    pieces = [keys] if isinstance(keys, np.ndarray) else keys
    exact = alloc("exact", len(hashes))
    sort_into(hashes, first, *exact)
    bands_k, bands_p = [], []
    for band in range(pieces[0].shape[1] if pieces else 0):
        out = alloc(f"band{band}", len(hashes))
        sort_into(np.concatenate([p[:, band] for p in pieces]), first, *out)
        bands_k.append(out[0])
        bands_p.append(out[1])
    return Run(first, len(hashes), *exact, bands_k, bands_p)


def merge(a: Run, b: Run, alloc: Alloc = memory_alloc) -> Run:
    """a then b as one run. Releases each band of a and b once merged (for in-memory runs)."""
    n = a.size + b.size
    exact = alloc("exact", n)
    merge_into((a.exact, a.exact_pos), (b.exact, b.exact_pos), exact)
    bands_k, bands_p = [], []
    for band in range(len(a.keys)):
        out = alloc(f"band{band}", n)
        merge_into((a.keys[band], a.pos[band]), (b.keys[band], b.pos[band]), out)
        bands_k.append(out[0])
        bands_p.append(out[1])
        for run in (a, b):
            run.keys[band] = run.pos[band] = np.empty(0, np.uint64)
    return Run(a.first, n, *exact, bands_k, bands_p)


def should_merge(runs: list[Run]) -> bool:
    return len(runs) > 1 and runs[-2].size <= 2 * runs[-1].size


class Runs:
    """The runs of one store, oldest first (so the first match found is the earliest row)."""

    def __init__(self, runs: list[Run] | None = None):
        self.runs = runs or []

    def append(self, hashes: np.ndarray, keys: np.ndarray, first: int) -> None:
        """Add rows in memory (merging as described in the module docstring)."""
        self.runs.append(build(hashes, keys, first))
        while should_merge(self.runs):
            last = self.runs.pop()
            self.runs[-1] = merge(self.runs[-1], last)

    def exact(self, hashes: np.ndarray) -> np.ndarray:
        """Position of the earliest stored row with each hash, or -1."""
        found = np.full(len(hashes), -1, np.int64)
        for run in self.runs:
            todo = np.flatnonzero(found < 0)
            if not len(todo):
                break
            if not run.size:
                continue
            lo = np.minimum(np.searchsorted(run.exact, hashes[todo]), run.size - 1)
            hit = np.asarray(run.exact[lo]) == hashes[todo]
            found[todo[hit]] = run.exact_pos[lo[hit]]
        return found

    def band_matches(self, keys: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
        """(query row, stored position) for each shared band key: per key, at most the `cap` earliest."""
        queries, found = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        bands = min(keys.shape[1], min((len(r.keys) for r in self.runs), default=0))
        for band in range(bands):  # no keys: exact-only run (near=False)
            order = np.argsort(keys[:, band], kind="stable")
            sorted_keys = keys[order, band]
            quota = np.full(len(keys), cap, np.int64)
            for run in self.runs:
                q, p = _matches(run.keys[band], run.pos[band], sorted_keys, quota)
                queries.append(order[q])
                found.append(p)
        return np.concatenate(queries), np.concatenate(found)


def _matches(
    stored: np.ndarray, pos: np.ndarray, sorted_keys: np.ndarray, quota: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Query index and stored position of up to `quota` matches per query key (lowering the quota)."""
    if not len(stored):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    lo = np.searchsorted(stored, sorted_keys, "left")
    hit = np.flatnonzero((np.asarray(stored[np.minimum(lo, len(stored) - 1)]) == sorted_keys) & (quota > 0))
    lo = lo[hit]
    count = np.minimum(np.searchsorted(stored, sorted_keys[hit], "right") - lo, quota[hit])
    quota[hit] -= count
    at = np.repeat(lo, count) + within(count)
    return np.repeat(hit, count), np.asarray(pos[at]).astype(np.int64)
