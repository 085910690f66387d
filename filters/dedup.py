"""Exact and near-duplicate removal (stage "dedup"), streaming, and incremental across published versions.

    result = Dedup()(table)                                  # -> StageResult
    result = Dedup(index_dir=ds_dir / ".dedup-index")(table)  # also against earlier versions
    DedupIndex(ds_dir / ".dedup-index").add(published_rows, "v3")  # after publish

What is compared: per row, `text_columns` (default instruction + response; a list-of-messages column
contributes its `content`s) joined by a newline, then normalized (`normalize`): Unicode NFKC,
lowercase, each Han / Hiragana / Katakana / Thai character made a word of its own (those scripts
do not separate words with spaces), every run of characters that are not letters, digits or
combining marks (punctuation, symbols, '_', whitespace) replaced by one space, trimmed.

Exact: a 64-bit BLAKE2b of the normalized text; equal hashes are duplicates (no further check).
Near: MinHash over word n-gram shingles (numpy, `num_perm` affine permutations of a 32-bit shingle
hash), LSH with `bands` x `rows` (`DedupConfig.lsh_threshold` is the implied Jaccard threshold).
Rows sharing a band key are candidate pairs; each candidate pair is verified with rapidfuzz
(`scorer` on the normalized texts >= `threshold`); verified pairs are joined by union-find into
clusters and the earliest row of each cluster is kept. A dropped row's detail names the cluster
(the 64-bit hash of the kept row's normalized text, hex), the kept row's id and the similarity of
the dropped row to the kept row (it may be below the threshold when the row joined the cluster
through another member).

Rows whose normalized text is empty are kept and never compared: there is nothing to compare, and
empty rows are the heuristics' business.

Streaming: input is processed in record batches (`batch_rows`). Rows of earlier batches stay in
memory only as sketches (sorted exact hash and band keys with positions, cluster root, id: about
550 bytes a row with the default 42 bands; signatures are not kept); their normalized texts are
spilled to Parquet in a temporary directory and read back by row group only for candidate pairs.
The one difference from deduping the whole table at once: a kept row of an earlier batch is never
dropped later, even if a later row links its cluster to an older one.

Incremental: `DedupIndex` persists, for every published row, its id, version label, exact hash,
band keys, signature and normalized text (Parquet segments under its directory, one per `add`,
written to a temp file and linked into place atomically). Verification against earlier versions
uses the stored normalized text, with the same scorer and threshold as within a run, so a verdict
does not depend on which version a row arrived in. Loading reads ids, hashes and band keys only;
texts are read by row group when a candidate needs one. New rows are checked against the index
first (reason `duplicate_of_earlier_version`, detail naming the earlier row and its version), then
against each other.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, model_validator
from rapidfuzz import fuzz, process

from filters.base import split_rows
from generators.result import StageResult
from schemas.config import Frozen
from schemas.errors import ConfigError
from schemas.manifest import StageStats

STAGE = "dedup"
NORMALIZATION = "nfkc-lower-cjk-alnum-v1"  # stored in an index's meta; change it when `normalize` changes
ROW_GROUP_ROWS = 8192
_SCORERS = {"ratio": fuzz.ratio, "token_sort_ratio": fuzz.token_sort_ratio, "token_set_ratio": fuzz.token_set_ratio}
_NO_RANK = np.iinfo(np.int64).max

Verdict = tuple[str, str] | None


class DedupConfig(Frozen):
    """Defaults picked on bench/dedup.py's labeled set (bench/results/dedup.md): word bigrams, 42 bands
    x 3 rows (LSH threshold ~0.29, since a copy with 15% of its words edited keeps only about half of
    its bigrams), verified with token_sort_ratio >= 0.8 (word order does not matter, so swaps and moved
    spans cost little; unlike token_set_ratio, a text is not a duplicate of a longer one containing it)."""

    text_columns: tuple[str, ...] = Field(("instruction", "response"), min_length=1)
    near: bool = Field(True, description="False: exact duplicates only")
    ngram: int = Field(2, ge=1, le=8, description="words per shingle")
    num_perm: int = Field(128, ge=8, le=1024)
    bands: int = Field(42, ge=1)
    rows: int = Field(3, ge=1, description="signature values per band; bands * rows <= num_perm")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="rapidfuzz similarity (0..1) a candidate pair needs")
    scorer: Literal["ratio", "token_sort_ratio", "token_set_ratio"] = "token_sort_ratio"
    seed: int = 0
    batch_rows: int = Field(10_000, ge=1)
    window: int = Field(
        16, ge=1, description="in a bucket, each row is paired with the next `window` rows and the first"
    )
    max_candidates: int = Field(
        32, ge=1, description="earlier rows verified at most per row: those sharing the most bands, then the earliest"
    )
    verify_chars: int = Field(
        10_000, ge=100, description="verification compares the first verify_chars characters (its cost is quadratic)"
    )
    workers: int = Field(1, description="rapidfuzz threads; -1 = all cores")
    spill_dir: Path | None = Field(None, description="where earlier batches' texts spill; None = system temp dir")

    @model_validator(mode="after")
    def _bands_fit(self) -> DedupConfig:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    @property
    def lsh_threshold(self) -> float:
        """Shingle Jaccard at which a pair becomes a candidate with probability about 1/2."""
        return (1.0 / self.bands) ** (1.0 / self.rows)

    def sketch_settings(self) -> dict[str, Any]:
        """What an index's stored sketches depend on: an index only works with the same values."""
        keys = ("text_columns", "ngram", "num_perm", "bands", "rows", "seed")
        return {"normalization": NORMALIZATION, **self.model_dump(mode="json", include=set(keys))}


# ---------------------------------------------------------------- text


def _column_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A string column as is; a list of strings, or of messages (structs with `content`), joined by spaces."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        values = arr.values
        if pa.types.is_struct(values.type):
            values = pc.struct_field(values, "content")
        arr = pc.binary_join(type(arr).from_arrays(arr.offsets, values), " ")
    return pc.fill_null(arr.cast(pa.string()), "")


def row_texts(data: pa.Table | pa.RecordBatch, columns: Sequence[str]) -> pa.Array:
    """The text dedup compares for each row: `columns` joined by a newline."""
    missing = [c for c in columns if c not in data.schema.names]
    if missing:
        raise ConfigError(
            f"dedup: text_columns {missing} are not in the rows (columns: {', '.join(data.schema.names)})"
        )
    parts = [_column_text(data.column(c)) for c in columns]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\n")


def normalize(texts: pa.Array) -> pa.Array:
    """See the module docstring. Vectorized (Arrow compute, RE2 with Unicode classes)."""
    out = pc.utf8_lower(pc.utf8_normalize(texts, "NFKC"))
    out = pc.replace_substring_regex(out, r"([\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}])", r" \1 ")
    out = pc.replace_substring_regex(out, r"[^\p{L}\p{N}\p{M}]+", " ")
    return pc.utf8_trim_whitespace(out)


def normalize_text(text: str) -> str:
    return normalize(pa.array([text], pa.string()))[0].as_py()


# ---------------------------------------------------------------- hashing


def _u64(x: int) -> np.uint64:
    return np.uint64(x & 0xFFFFFFFFFFFFFFFF)


_POLY = _u64(0x100000001B3)  # odd, so invertible modulo 2^64
_POLY_INV = _u64(pow(0x100000001B3, -1, 1 << 64))
_MIX = _u64(0x9E3779B97F4A7C15)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (avalanche), on uint64 arrays (multiplication wraps mod 2^64)."""
    h = h ^ (h >> _u64(33))
    h = h * _u64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _u64(33))
    h = h * _u64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _u64(33))


def exact_hashes(norm: pa.Array) -> np.ndarray:
    """64-bit BLAKE2b of each normalized text (uint64)."""
    digests = b"".join(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest() for s in norm.to_pylist())
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.empty(n + 1, np.uint64)
    out[0] = 1
    np.cumprod(np.full(n, base, np.uint64), out=out[1:])
    return out


def string_hashes(strings: pa.Array) -> np.ndarray:
    """Vectorized 64-bit hash of each string: a polynomial over its UTF-8 bytes, computed for all
    strings at once from prefix sums (mod 2^64) and inverse powers, then mixed with its length."""
    raw = np.frombuffer(strings.buffers()[1], np.int64 if pa.types.is_large_string(strings.type) else np.int32)
    offsets = raw[strings.offset : strings.offset + len(strings) + 1].astype(np.int64)
    data_buf = strings.buffers()[2]
    data = np.frombuffer(data_buf, np.uint8)[offsets[0] : offsets[-1]] if data_buf else np.empty(0, np.uint8)
    offsets = offsets - offsets[0]
    powers, inverse = _powers(_POLY, len(data)), _powers(_POLY_INV, len(data))
    prefix = np.zeros(len(data) + 1, np.uint64)
    np.cumsum((data.astype(np.uint64) + _u64(1)) * powers[:-1], out=prefix[1:])
    start, end = offsets[:-1], offsets[1:]
    poly = (prefix[end] - prefix[start]) * inverse[start]
    return _fmix64(poly ^ ((end - start).astype(np.uint64) * _MIX))


def _within(counts: np.ndarray) -> np.ndarray:
    """For groups of `counts` elements laid end to end: each element's index within its group."""
    counts = counts.astype(np.int64)
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def shingle_hashes(norm: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of each text's word n-grams (uint32) and the text each belongs to (sorted).
    A text with fewer than `ngram` words has one shingle of all its words; an empty text has none."""
    tokens = pc.split_pattern(norm, " ")
    offsets = tokens.offsets.to_numpy().astype(np.int64)
    counts = np.diff(offsets)
    counts[pc.equal(pc.binary_length(norm), 0).to_numpy(zero_copy_only=False)] = 0
    offsets = offsets - offsets[0]
    encoded = pc.dictionary_encode(tokens.flatten())
    token_hash = string_hashes(encoded.dictionary)[encoded.indices.to_numpy()]
    per_text = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    doc = np.repeat(np.arange(len(norm)), per_text)
    first = np.repeat(offsets[:-1], per_text) + _within(per_text)
    end = np.repeat(offsets[:-1] + counts, per_text)
    h = np.zeros(len(first), np.uint64)
    for k in range(ngram):
        idx = first + k
        word = token_hash[np.minimum(idx, max(len(token_hash) - 1, 0))] if len(token_hash) else h
        h = (h ^ np.where(idx < end, word, _u64(0))) * _MIX
    return (_fmix64(h) >> _u64(32)).astype(np.uint32), doc


# ---------------------------------------------------------------- minhash + LSH


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the affine permutations x -> a*x + b mod 2^32, a odd (a bijection)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = rng.integers(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def minhash(shingles: np.ndarray, doc: np.ndarray, n_docs: int, perm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Signatures (n_docs x num_perm, uint32): per text, the minimum of each permutation over its
    shingles. Shingles go in chunks, permutations along rows (a num_perm x chunk matrix of ~8 MB),
    and a segmented minimum over each text's columns."""
    a, b = perm
    sig = np.full((len(a), n_docs), np.iinfo(np.uint32).max, np.uint32)
    chunk = max(1, (1 << 21) // len(a))
    buf = np.empty((len(a), chunk), np.uint32)
    for lo in range(0, len(shingles), chunk):
        x, d = shingles[lo : lo + chunk], doc[lo : lo + chunk]
        out = buf[:, : len(x)]
        np.multiply(a[:, None], x[None, :], out=out)
        np.add(out, b[:, None], out=out)
        starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        docs = d[starts]
        sig[:, docs] = np.minimum(sig[:, docs], np.minimum.reduceat(out, starts, axis=1))
    return np.ascontiguousarray(sig.T)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band (n x bands, uint64): a hash of the band's `rows` signature values."""
    values = sig[:, : bands * rows].reshape(len(sig), bands, rows).astype(np.uint64)
    key = np.broadcast_to(np.arange(bands, dtype=np.uint64) * _MIX, (len(sig), bands))
    for t in range(rows):
        key = (key ^ values[:, :, t]) * _u64(0xBF58476D1CE4E5B9)
    return _fmix64(key)


def bucket_pairs(keys: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j), i < j, of rows with equal keys: each row with the next `window` rows of its
    bucket, and the bucket's first row with every other (so a huge bucket costs O(size), not O(size^2))."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    n = len(keys)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group_start = np.repeat(starts, sizes)
    pos = np.arange(n)
    count = np.minimum(window, group_start + np.repeat(sizes, sizes) - 1 - pos)
    left = np.repeat(pos, count)
    right = left + 1 + _within(count)
    far = pos - group_start > window
    return order[np.r_[left, group_start[far]]], order[np.r_[right, pos[far]]]


def candidate_pairs(keys: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique pairs (i < j) sharing at least one band key, with how many bands they share; the
    pairs sharing the most bands (the likeliest duplicates) first."""
    n = max(len(keys), 1)
    codes = [i * n + j for i, j in (bucket_pairs(keys[:, band], window) for band in range(keys.shape[1]))]
    unique, shared = np.unique(np.concatenate([np.empty(0, np.int64), *codes]), return_counts=True)
    order = np.argsort(-shared, kind="stable")
    return unique[order] // n, unique[order] % n, shared[order]


def similarities(left: list[str], right: list[str], cfg: DedupConfig, cutoff: bool = True) -> np.ndarray:
    """rapidfuzz `cfg.scorer` of each pair, 0..1 (below the threshold reads 0 when `cutoff`)."""
    if not left:
        return np.empty(0, np.float64)
    score_cutoff = cfg.threshold * 100 if cutoff else None
    cap = cfg.verify_chars
    left, right = [s[:cap] for s in left], [s[:cap] for s in right]
    scores = process.cpdist(left, right, scorer=_SCORERS[cfg.scorer], score_cutoff=score_cutoff, workers=cfg.workers)
    return np.asarray(scores, np.float64) / 100.0


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Union-find over edges (i, j), vectorized (hooking + pointer jumping): each node's label is the
    smallest node of its connected component."""
    labels = np.arange(n)
    while True:
        li, lj = labels[i], labels[j]
        low = np.minimum(li, lj)
        hooked = labels.copy()
        np.minimum.at(hooked, li, low)
        np.minimum.at(hooked, lj, low)
        while not np.array_equal(jumped := hooked[hooked], hooked):
            hooked = jumped
        if np.array_equal(hooked, labels):
            return labels
        labels = hooked


# ---------------------------------------------------------------- stored rows


Pairs = tuple[np.ndarray, np.ndarray]  # (sorted keys, the stored positions they belong to)
_POS = np.uint32  # positions within one store: up to 4e9 rows


def _sort_pairs(keys: np.ndarray, pos: np.ndarray) -> Pairs:
    order = np.argsort(keys, kind="stable")  # stable: for equal keys, earlier positions first
    return keys[order], pos[order]


def _join(a: Pairs, b: Pairs) -> Pairs:
    return _sort_pairs(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))


class _Sorted:
    """Lookup arrays for a run of stored rows: exact hashes and each band's keys, sorted, with the
    rows' positions (about 12 bytes a row per band, 12 for the hash)."""

    def __init__(self, exact: Pairs, bands: list[Pairs]):
        self.exact, self.bands = exact, bands

    @classmethod
    def build(cls, hashes: np.ndarray, keys: np.ndarray, first: int) -> _Sorted:
        pos = np.arange(first, first + len(hashes)).astype(_POS)
        return cls(_sort_pairs(hashes, pos), [_sort_pairs(keys[:, band], pos) for band in range(keys.shape[1])])

    def __len__(self) -> int:
        return len(self.exact[0])

    @classmethod
    def merge(cls, first: _Sorted, second: _Sorted) -> _Sorted:
        """Both runs as one. Consumes them band by band, so merging needs one band's worth of extra memory."""
        bands = []
        for band in range(len(first.bands)):
            bands.append(_join(first.bands[band], second.bands[band]))
            first.bands[band] = second.bands[band] = (np.empty(0, np.uint64), np.empty(0, _POS))
        return cls(_join(first.exact, second.exact), bands)

    def exact_match(self, hashes: np.ndarray) -> np.ndarray:
        """Position of the earliest stored row with each hash, or -1."""
        keys, pos = self.exact
        if not len(keys):
            return np.full(len(hashes), -1, np.int64)
        lo = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
        return np.where(keys[lo] == hashes, pos[lo].astype(np.int64), -1)

    def band_matches(self, keys: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
        """(query row, stored position) for each shared band key, at most `cap` (earliest) per key."""
        queries, found = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for band in range(min(keys.shape[1], len(self.bands))):  # no keys: exact-only run (near=False)
            stored, pos = self.bands[band]
            lo = np.searchsorted(stored, keys[:, band], "left")
            count = np.minimum(np.searchsorted(stored, keys[:, band], "right") - lo, cap)
            queries.append(np.repeat(np.arange(len(keys)), count))
            found.append(pos[np.repeat(lo, count) + _within(count)].astype(np.int64))
        return np.concatenate(queries), np.concatenate(found)


def _read_texts(path: Path, local: np.ndarray) -> list[str]:
    """Texts at `local` positions of a Parquet file's `text` column, reading only their row groups."""
    pf = pq.ParquetFile(path)
    sizes = np.array([pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)], np.int64)
    bounds = np.r_[0, np.cumsum(sizes)]
    group = np.searchsorted(bounds, local, "right") - 1
    wanted = np.unique(group)
    table = pf.read_row_groups(wanted.tolist(), columns=["text"])
    base = np.r_[0, np.cumsum(sizes[wanted])][np.searchsorted(wanted, group)]
    return table.column("text").take(pa.array(local - bounds[group] + base)).to_pylist()


class _Texts:
    """Normalized texts of stored rows: Parquet files, and the newest batch in memory until the next
    one arrives (then it spills to `spill_dir`, when there is one)."""

    def __init__(self, spill_dir: Path | None = None):
        self.spill_dir = spill_dir
        self.starts: list[int] = []
        self.sources: list[pa.Array | Path] = []
        self.size = 0

    def add(self, source: pa.Array | Path, n: int) -> None:
        if self.spill_dir is not None:
            for k, s in enumerate(self.sources):
                if isinstance(s, pa.Array):
                    path = self.spill_dir / f"texts-{k:06d}.parquet"
                    pq.write_table(pa.table({"text": s}), path, row_group_size=ROW_GROUP_ROWS, compression="zstd")
                    self.sources[k] = path
        self.starts.append(self.size)
        self.sources.append(source)
        self.size += n

    def get(self, pos: np.ndarray) -> list[str]:
        out: list[str] = [""] * len(pos)
        source = np.searchsorted(np.array(self.starts), pos, "right") - 1
        for k in np.unique(source):
            sel = np.flatnonzero(source == k)
            local = pos[sel] - self.starts[k]
            src = self.sources[k]
            texts = src.take(pa.array(local)).to_pylist() if isinstance(src, pa.Array) else _read_texts(src, local)
            for i, text in zip(sel.tolist(), texts, strict=True):
                out[i] = text
        return out


class _Store:
    """Rows seen before (an index's published rows, or this run's earlier batches). Each has a global
    rank (arrival order; `rank0` is this store's first) and the rank of its cluster's kept row."""

    COLUMNS = ("hash", "root", "id", "label")

    def __init__(self, rank0: int, spill_dir: Path | None = None):
        self.rank0 = rank0
        self.size = 0
        self.runs: list[_Sorted] = []
        self.columns: dict[str, list[pa.Array]] = {c: [] for c in self.COLUMNS}
        self.texts = _Texts(spill_dir)

    def append(self, hashes: np.ndarray, keys: np.ndarray, roots: np.ndarray, ids: pa.Array, labels: pa.Array) -> None:
        """Add rows' sketches (their texts go to `self.texts` separately)."""
        self.runs.append(_Sorted.build(hashes, keys, self.size))
        while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            last = self.runs.pop()
            self.runs[-1] = _Sorted.merge(self.runs[-1], last)
        for name, values in zip(self.COLUMNS, (pa.array(hashes), pa.array(roots), ids, labels), strict=True):
            chunks = self.columns[name]
            chunks.append(values)
            if len(chunks) > 32:
                self.columns[name] = [pa.chunked_array(chunks).combine_chunks()]
        self.size += len(hashes)

    def take(self, name: str, pos: np.ndarray) -> pa.Array:
        chunks = self.columns[name]
        return pa.chunked_array(chunks, chunks[0].type).take(pa.array(pos, pa.int64())).combine_chunks()

    def exact(self, hashes: np.ndarray) -> np.ndarray:
        """Position of an earlier row with each hash, or -1."""
        found = np.full(len(hashes), -1, np.int64)
        for run in self.runs:
            pos = run.exact_match(hashes)
            found = np.where((found < 0) | ((pos >= 0) & (pos < found)), pos, found)
        return found

    def near(self, keys: np.ndarray, cap: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, stored position, rank) for stored rows sharing a band key with a query: per
        query at most `cap`, ranked by bands shared (most first), then position (earliest first).
        Sorted by rank, then query. Queries go `chunk` at a time to bound the memory of the matching."""
        q, p, rank = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for lo in range(0, len(keys), chunk):
            part = self._near(keys[lo : lo + chunk], cap)
            q.append(part[0] + lo)
            p.append(part[1])
            rank.append(part[2])
        q, p, rank = np.concatenate(q), np.concatenate(p), np.concatenate(rank)
        order = np.lexsort((q, rank))
        return q[order], p[order], rank[order]

    def _near(self, keys: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        matches = [run.band_matches(keys, cap) for run in self.runs]
        width = self.size + 1
        codes = np.concatenate([np.empty(0, np.int64), *(q * width + p for q, p in matches)])
        codes, shared = np.unique(codes, return_counts=True)
        q, p = codes // width, codes % width
        order = np.lexsort((p, -shared, q))
        q, p = q[order], p[order]
        rank = _within(np.bincount(q, minlength=len(keys)))
        keep = rank < cap
        return q[keep], p[keep], rank[keep]


# ---------------------------------------------------------------- one batch


@dataclass(frozen=True)
class _Sketch:
    """A batch, sketched. Reps are the first row of each distinct non-empty normalized text."""

    norm: pa.Array  # per row
    hashes: np.ndarray  # per row
    rep_of: np.ndarray  # per row: index into reps, -1 for an empty text
    reps: np.ndarray  # row index of each rep
    keys: np.ndarray  # per rep: band keys (reps x bands)
    sig: np.ndarray | None = None  # per rep, when asked for

    @cached_property
    def rep_texts(self) -> pa.Array:
        return self.norm.take(pa.array(self.reps, pa.int64()))

    @cached_property
    def rep_list(self) -> list[str]:
        return self.rep_texts.to_pylist()


def _reps(hashes: np.ndarray, empty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index of the first row of each distinct non-empty hash (in row order), and each row's rep
    (-1 for an empty text)."""
    rows = np.flatnonzero(~empty)
    _, first, inverse = np.unique(hashes[rows], return_index=True, return_inverse=True)
    order = np.argsort(rows[first])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    rep_of = np.full(len(hashes), -1, np.int64)
    rep_of[rows] = rank[inverse.reshape(-1)]
    return rows[first][order], rep_of


def sketch(
    data: pa.Table | pa.RecordBatch, cfg: DedupConfig, perm: tuple[np.ndarray, np.ndarray], near: bool = True
) -> _Sketch:
    """Normalize, hash, find the distinct texts; with `near`, MinHash them and compute band keys."""
    norm = normalize(row_texts(data, cfg.text_columns))
    hashes = exact_hashes(norm)
    reps, rep_of = _reps(hashes, pc.equal(pc.binary_length(norm), 0).to_numpy(zero_copy_only=False))
    if not near:
        return _Sketch(norm, hashes, rep_of, reps, np.empty((len(reps), 0), np.uint64))
    shingles, doc = shingle_hashes(norm.take(pa.array(reps, pa.int64())), cfg.ngram)
    sig = minhash(shingles, doc, len(reps), perm)
    return _Sketch(norm, hashes, rep_of, reps, band_keys(sig, cfg.bands, cfg.rows), sig)


def _row_ids(data: pa.Table | pa.RecordBatch, first_row: int) -> pa.Array:
    if "id" in data.schema.names:
        column = data.column("id")
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        return pc.fill_null(column.cast(pa.string()), "")
    return pa.array([f"row{first_row + i}" for i in range(data.num_rows)], pa.string())


def _prior_roots(store: _Store, sk: _Sketch, cfg: DedupConfig) -> np.ndarray:
    """Per rep: the smallest root rank among stored rows it duplicates (same hash, or a verified
    near duplicate), else _NO_RANK. A rep with an exact match is not also checked for near ones.
    Candidates are verified in rounds, each rep's likeliest first, skipping any whose root could not
    lower the rep's best so far (the result is the same as verifying all, with far fewer calls)."""
    best = np.full(len(sk.reps), _NO_RANK, np.int64)
    if store.size == 0 or not len(sk.reps):
        return best
    pos = store.exact(sk.hashes[sk.reps])
    hit = np.flatnonzero(pos >= 0)
    best[hit] = store.take("root", pos[hit]).to_numpy()
    todo = np.flatnonzero(pos < 0)
    q, p, rank = store.near(sk.keys[todo], cfg.max_candidates)
    q, roots = todo[q], store.take("root", p).to_numpy()
    bounds = np.searchsorted(rank, np.arange(rank.max() + 2 if len(rank) else 0))
    for lo, hi in itertools.pairwise(bounds):
        sel = lo + np.flatnonzero(roots[lo:hi] < best[q[lo:hi]])
        ok = similarities([sk.rep_list[k] for k in q[sel]], store.texts.get(p[sel]), cfg) >= cfg.threshold
        np.minimum.at(best, q[sel][ok], roots[sel][ok])
    return best


def _local_edges(sk: _Sketch, cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Verified near-duplicate pairs among the batch's reps. Candidates go in rounds, likeliest
    first, skipping pairs already joined by earlier edges (same clusters as verifying them all)."""
    i, j, _ = candidate_pairs(sk.keys, cfg.window)
    n, step = len(sk.reps), max(len(sk.reps), 1024)
    edges_i, edges_j = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    labels = np.arange(n)
    for lo in range(0, len(i), step):
        a, b = i[lo : lo + step], j[lo : lo + step]
        apart = labels[a] != labels[b]
        a, b = a[apart], b[apart]
        ok = similarities([sk.rep_list[k] for k in a], [sk.rep_list[k] for k in b], cfg) >= cfg.threshold
        edges_i.append(a[ok])
        edges_j.append(b[ok])
        labels = components(n, np.concatenate(edges_i), np.concatenate(edges_j))
    return np.concatenate(edges_i), np.concatenate(edges_j)


def _roots(n_reps: int, base: int, prior: np.ndarray, edges: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per rep: the rank of its cluster's kept row, the smallest rank in its component, where a
    rep's own rank is base + its index and a link to an earlier row counts as that row's root."""
    labels = components(n_reps, *edges)
    best = np.full(n_reps, _NO_RANK, np.int64)
    np.minimum.at(best, labels, np.minimum(base + np.arange(n_reps), prior))
    return best[labels]


@dataclass(frozen=True)
class _Kept:
    """Kept rows, described for the details of the rows they replace."""

    ids: list[str]
    hashes: np.ndarray
    labels: list[str]
    texts: list[str]


def _describe(ranks: np.ndarray, stores: Sequence[_Store], sk: _Sketch, ids: pa.Array, base: int) -> _Kept:
    unique, inverse = np.unique(ranks, return_inverse=True)
    out_ids, labels, texts = [""] * len(unique), [""] * len(unique), [""] * len(unique)
    hashes = np.zeros(len(unique), np.uint64)
    for store in stores:
        sel = np.flatnonzero((unique >= store.rank0) & (unique < store.rank0 + store.size))
        if len(sel):
            pos = unique[sel] - store.rank0
            ids_, labels_ = store.take("id", pos).to_pylist(), store.take("label", pos).to_pylist()
            for k, row_id, label, text in zip(sel.tolist(), ids_, labels_, store.texts.get(pos), strict=True):
                out_ids[k], labels[k], texts[k] = row_id, label or "", text
            hashes[sel] = store.take("hash", pos).to_numpy()
    local = np.flatnonzero(unique >= base)
    rows = sk.reps[unique[local] - base]
    for k, row_id, text in zip(local.tolist(), ids.take(rows).to_pylist(), sk.norm.take(rows).to_pylist(), strict=True):
        out_ids[k], texts[k] = row_id, text
    hashes[local] = sk.hashes[rows]
    inv = inverse.reshape(-1).tolist()
    return _Kept([out_ids[k] for k in inv], hashes[inverse], [labels[k] for k in inv], [texts[k] for k in inv])


def _detail(reason: str, kept_id: str, label: str, kept_hash: int, similarity: float) -> str:
    cluster = f"cluster={kept_hash:016x}"
    if reason == "duplicate_of_earlier_version":
        return f"version={label} earlier={kept_id} {cluster} similarity={similarity:.2f}"
    return f"{cluster} kept={kept_id} similarity={similarity:.2f}"


def _verdicts(
    sk: _Sketch, root: np.ndarray, ids: pa.Array, index: _Store, run: _Store, cfg: DedupConfig
) -> list[Verdict]:
    """None for kept rows; (reason, detail) for each row whose cluster's kept row is another."""
    base = run.rank0 + run.size
    has_rep = sk.rep_of >= 0
    row_root = np.where(has_rep, root[np.maximum(sk.rep_of, 0)] if len(root) else 0, -1)
    is_rep = np.zeros(len(sk.hashes), bool)
    is_rep[sk.reps] = True
    dropped = np.flatnonzero(has_rep & ((row_root != base + sk.rep_of) | ~is_rep))
    verdicts: list[Verdict] = [None] * len(sk.hashes)
    if not len(dropped):
        return verdicts
    kept = _describe(row_root[dropped], (index, run), sk, ids, base)
    same = sk.hashes[dropped] == kept.hashes
    sims = np.ones(len(dropped))
    differ = np.flatnonzero(~same)
    texts = sk.norm.take(pa.array(dropped[differ], pa.int64())).to_pylist()
    sims[differ] = similarities(texts, [kept.texts[k] for k in differ], cfg, cutoff=False)
    for k, row in enumerate(dropped.tolist()):
        earlier = row_root[row] < run.rank0
        reason = "duplicate_of_earlier_version" if earlier else "exact_duplicate" if same[k] else "near_duplicate"
        verdicts[row] = (reason, _detail(reason, kept.ids[k], kept.labels[k], int(kept.hashes[k]), sims[k]))
    return verdicts


class _Deduper:
    """Dedups one batch after another against an index (earlier versions) and this run's earlier batches."""

    def __init__(self, cfg: DedupConfig, index: DedupIndex | None, spill_dir: Path | None):
        self.cfg = cfg
        self.perm = permutations(cfg.num_perm, cfg.seed)
        self.index = index.store if index is not None else _Store(0)
        self.run = _Store(self.index.size, spill_dir)
        self.rows_seen = 0

    def __call__(self, batch: pa.RecordBatch) -> StageResult:
        started = time.perf_counter()
        cfg, run = self.cfg, self.run
        sk = sketch(batch, cfg, self.perm, near=cfg.near)
        ids = _row_ids(batch, self.rows_seen)
        prior = np.minimum(_prior_roots(self.index, sk, cfg), _prior_roots(run, sk, cfg))
        edges = _local_edges(sk, cfg)
        root = _roots(len(sk.reps), run.rank0 + run.size, prior, edges)
        verdicts = _verdicts(sk, root, ids, self.index, run, cfg)
        run.texts.add(sk.rep_texts, len(sk.reps))
        rep_ids = ids.take(pa.array(sk.reps, pa.int64()))
        run.append(sk.hashes[sk.reps], sk.keys, root, rep_ids, pa.nulls(len(root), pa.string()))
        self.rows_seen += batch.num_rows
        return split_rows(pa.Table.from_batches([batch]), STAGE, verdicts, started=started)


# ---------------------------------------------------------------- streaming + the stage


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    return table.combine_chunks().to_batches()[0]


def batches_of(data: pa.Table | Iterable[pa.RecordBatch], n: int) -> Iterator[pa.RecordBatch]:
    """Record batches of `n` rows (the last may be shorter), whatever the input's chunking."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in data.to_batches() if isinstance(data, pa.Table) else data:
        pending.append(batch)
        count += batch.num_rows
        while count >= n:
            table = pa.Table.from_batches(pending)
            yield _one_batch(table.slice(0, n))
            rest = table.slice(n)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield _one_batch(pa.Table.from_batches(pending))


def dedup_batches(
    batches: pa.Table | Iterable[pa.RecordBatch], config: DedupConfig | None = None, index: DedupIndex | None = None
) -> Iterator[StageResult]:
    """Dedup a stream of record batches (re-cut to `config.batch_rows`), yielding one StageResult per
    batch as soon as it is done; a row kept in a yielded batch stays kept. Memory grows with the rows'
    sketches, not their text (see the module docstring)."""
    cfg = config or DedupConfig()
    if index is not None:
        index.check(cfg)
    with tempfile.TemporaryDirectory(prefix="synthloom-dedup-", dir=cfg.spill_dir) as spill:
        dedup = _Deduper(cfg, index, Path(spill))
        for batch in batches_of(batches, cfg.batch_rows):
            yield dedup(batch)


def combine(table: pa.Table, results: Sequence[StageResult], started: float) -> StageResult:
    """Per-batch results as one (the rows of `table`, in order)."""
    if not results:
        return split_rows(table, STAGE, [], started=started)
    stats = StageStats(
        name=STAGE,
        rows_in=sum(r.stats.rows_in for r in results),
        rows_out=sum(r.stats.rows_out for r in results),
        rejected=sum(r.stats.rejected for r in results),
        seconds=round(time.perf_counter() - started, 3),
    )
    rows = pa.concat_tables([r.rows for r in results])
    return StageResult(rows, pa.concat_tables([r.rejects for r in results]), stats)


class Dedup(Frozen):
    """The dedup stage: `Dedup(config=DedupConfig(...), index_dir=...)(table) -> StageResult`.
    With `index_dir`, rows already in that `DedupIndex` (earlier versions) are dropped too."""

    config: DedupConfig = DedupConfig()
    index_dir: Path | None = None

    def open_index(self) -> DedupIndex | None:
        return DedupIndex(self.index_dir, self.config) if self.index_dir is not None else None

    def __call__(self, table: pa.Table) -> StageResult:
        started = time.perf_counter()
        return combine(table, list(self.stream(table)), started)

    def stream(self, batches: pa.Table | Iterable[pa.RecordBatch]) -> Iterator[StageResult]:
        return dedup_batches(batches, self.config, self.open_index())


# ---------------------------------------------------------------- the persisted index


def _segment_schema(cfg: DedupConfig) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("version", pa.string()),
            ("exact", pa.uint64()),
            ("bands", pa.list_(pa.uint64(), cfg.bands)),
            ("signature", pa.list_(pa.uint32(), cfg.num_perm)),
            ("text", pa.string()),
        ]
    )


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DedupIndex:
    """Sketches of every published row of a dataset, in `directory` (e.g. `<dataset dir>/.dedup-index/`):
    `meta.json` (the sketch settings) and one `seg-NNNNNN.parquet` per `add` (id, version, exact,
    bands, signature, normalized text). One writer at a time; a crash leaves only a `.tmp-*` file."""

    def __init__(self, directory: Path | str, config: DedupConfig | None = None):
        self.directory = Path(directory)
        self.config = config or DedupConfig()
        self.store = _Store(rank0=0)
        self._perm = permutations(self.config.num_perm, self.config.seed)
        self._check_meta()
        for path in self.segments():
            self._load(path)

    def __len__(self) -> int:
        return self.store.size

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob("seg-*.parquet")) if self.directory.is_dir() else []

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
        if meta.is_file():
            return
        tmp = self.directory / f".tmp-{uuid.uuid4().hex}.json"
        tmp.write_text(json.dumps({"format": 1, "sketch": self.config.sketch_settings()}, indent=2), encoding="utf-8")
        _fsync(tmp)
        os.replace(tmp, meta)

    def _load(self, path: Path) -> None:
        first = self.store.size
        batches = pq.ParquetFile(path).iter_batches(1 << 16, columns=["id", "version", "exact", "bands"])
        for batch in batches:
            keys = batch.column("bands").flatten().to_numpy().reshape(-1, self.config.bands)
            roots = np.arange(self.store.size, self.store.size + batch.num_rows, dtype=np.int64)
            hashes = batch.column("exact").to_numpy()
            self.store.append(hashes, keys, roots, batch.column("id"), batch.column("version"))
        self.store.texts.add(path, self.store.size - first)

    def add(self, rows: pa.Table | Iterable[pa.RecordBatch], version_label: str) -> int:
        """Index published rows under `version_label` (call after publish). Rows with empty text or a
        text already indexed are skipped. Returns how many rows were added."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_meta()
        tmp = self.directory / f".tmp-{uuid.uuid4().hex}.parquet"
        try:
            added = self._write_segment(rows, version_label, tmp)
            if added:
                self._load(self._commit(tmp))
            return added
        finally:
            tmp.unlink(missing_ok=True)

    def _write_segment(self, rows: pa.Table | Iterable[pa.RecordBatch], label: str, tmp: Path) -> int:
        added, seen = 0, np.empty(0, np.uint64)
        with pq.ParquetWriter(tmp, _segment_schema(self.config), compression="zstd") as writer:
            for batch in batches_of(rows, self.config.batch_rows):
                part = self._segment_rows(batch, label, seen)
                seen = np.r_[seen, part.column("exact").to_numpy()]
                writer.write_table(part, row_group_size=ROW_GROUP_ROWS)
                added += part.num_rows
        _fsync(tmp)
        return added

    def _segment_rows(self, batch: pa.RecordBatch, label: str, seen: np.ndarray) -> pa.Table:
        sk = sketch(batch, self.config, self._perm)
        hashes = sk.hashes[sk.reps]
        new = np.flatnonzero((self.store.exact(hashes) < 0) & ~np.isin(hashes, seen))
        rows = pa.array(sk.reps[new], pa.int64())
        columns = [
            _row_ids(batch, 0).take(rows),
            pa.array([label] * len(new), pa.string()),
            pa.array(hashes[new], pa.uint64()),
            pa.FixedSizeListArray.from_arrays(pa.array(sk.keys[new].ravel(), pa.uint64()), self.config.bands),
            pa.FixedSizeListArray.from_arrays(pa.array(sk.sig[new].ravel(), pa.uint32()), self.config.num_perm),
            sk.norm.take(rows),
        ]
        return pa.Table.from_arrays(columns, schema=_segment_schema(self.config))

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
