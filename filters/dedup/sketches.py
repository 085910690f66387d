"""Text -> sketch: normalization, exact hashes, word n-gram shingles, MinHash, LSH band keys, and the
within-batch building blocks (bucket pairs, rapidfuzz verification, union-find)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from schemas.dedup_config import DedupConfig
from schemas.errors import ConfigError
from schemas.text import normalize

_SCORERS = {"ratio": fuzz.ratio, "token_sort_ratio": fuzz.token_sort_ratio, "token_set_ratio": fuzz.token_set_ratio}

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


def within(counts: np.ndarray) -> np.ndarray:
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
    first = np.repeat(offsets[:-1], per_text) + within(per_text)
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
    right = left + 1 + within(count)
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


# ---------------------------------------------------------------- one batch


@dataclass(frozen=True)
class Sketch:
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
) -> Sketch:
    """Normalize, hash, find the distinct texts; with `near`, MinHash them and compute band keys."""
    norm = normalize(row_texts(data, cfg.text_columns))
    hashes = exact_hashes(norm)
    reps, rep_of = _reps(hashes, pc.equal(pc.binary_length(norm), 0).to_numpy(zero_copy_only=False))
    if not near:
        return Sketch(norm, hashes, rep_of, reps, np.empty((len(reps), 0), np.uint64))
    shingles, doc = shingle_hashes(norm.take(pa.array(reps, pa.int64())), cfg.ngram)
    sig = minhash(shingles, doc, len(reps), perm)
    return Sketch(norm, hashes, rep_of, reps, band_keys(sig, cfg.bands, cfg.rows), sig)


def row_ids(data: pa.Table | pa.RecordBatch, first_row: int) -> pa.Array:
    if "id" in data.schema.names:
        column = data.column("id")
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        return pc.fill_null(column.cast(pa.string()), "")
    return pa.array([f"row{first_row + i}" for i in range(data.num_rows)], pa.string())
