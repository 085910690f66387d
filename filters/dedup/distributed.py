"""The dedup stage on Ray Data, for datasets past one machine (the README's dedup part says when).

    ds = ray.data.from_arrow(with_ranks(tables))          # or any Dataset with a unique int64 `rank`
    kept, rejects = dedup_ray(ds, DedupConfig())          # two Ray Datasets

The same decisions as `Dedup` over the rows as one batch (tested to keep the same rows): exact
duplicates by normalized hash; near-duplicate candidates from LSH band buckets over the distinct
texts (each with the next `window` rows of its bucket, and with the bucket's first), each verified
with rapidfuzz; clusters by union-find; the row of lowest `rank` kept. Where each step runs:

1. sketch (`map_batches`, parallel): normalized text, exact hash, band keys per row
2. exact groups (`groupby(exact)`): the lowest rank of a hash represents it; the others link to it
3. candidates (band keys of representatives, exploded, `groupby(key)`): bucket pairs, made unique
4. verification (two union + groupby steps bring both texts, then `map_batches` with rapidfuzz)
5. union-find on the driver over the links (about one per duplicate; its labels take 8 bytes a
   row), then the labels go to the workers (object store) that split rows from rejects.

Rejects here carry `rank`, `id`, `reason` (exact_duplicate / near_duplicate) and `kept_rank`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.dedup.sketches import (
    band_keys,
    bucket_pairs,
    components,
    exact_hashes,
    minhash,
    normalize,
    permutations,
    row_texts,
    shingle_hashes,
    similarities,
)
from schemas.dedup_config import DedupConfig


def with_ranks(tables: Sequence[pa.Table]) -> list[pa.Table]:
    """The tables with a `rank` column: their rows numbered in order, across tables."""
    out, first = [], 0
    for table in tables:
        out.append(table.append_column("rank", pa.array(np.arange(first, first + table.num_rows, dtype=np.int64))))
        first += table.num_rows
    return out


def _sketch(batch: pa.Table, cfg: DedupConfig) -> pa.Table:
    """Non-empty rows: rank, exact hash, band keys (list), normalized text."""
    norm = normalize(row_texts(batch, cfg.text_columns))
    keep = pc.greater(pc.binary_length(norm), 0)
    norm, rank = norm.filter(keep), batch.column("rank").combine_chunks().filter(keep)
    shingles, doc = shingle_hashes(norm, cfg.ngram)
    keys = band_keys(minhash(shingles, doc, len(norm), permutations(cfg.num_perm, cfg.seed)), cfg.bands, cfg.rows)
    flat = pa.FixedSizeListArray.from_arrays(pa.array(keys.ravel(), pa.uint64()), cfg.bands)
    return pa.table({"rank": rank, "exact": exact_hashes(norm), "keys": flat, "text": norm})


def _exact_groups(group: pa.Table) -> pa.Table:
    """Each row of one exact hash, with `rep`: the group's lowest rank."""
    rank = group.column("rank").to_numpy()
    return group.append_column("rep", pa.array(np.full(len(rank), rank.min(), np.int64)))


def _explode(batch: pa.Table) -> pa.Table:
    keys = batch.column("keys").combine_chunks()
    bands = keys.type.list_size
    rank = np.repeat(batch.column("rank").to_numpy(), bands)
    return pa.table({"key": keys.flatten(), "rank": pa.array(rank, pa.int64())})


def _bucket(group: pa.Table, window: int) -> pa.Table:
    """Candidate pairs (i < j, by rank) within one band bucket, as `bucket_pairs` makes them."""
    rank = np.sort(group.column("rank").to_numpy())
    i, j = bucket_pairs(np.zeros(len(rank), np.uint64), window)
    i, j = rank[i], rank[j]
    return pa.table({"i": np.minimum(i, j), "j": np.maximum(i, j)})


def _verify(batch: pa.Table, cfg: DedupConfig) -> pa.Table:
    left, right = batch.column("text_i").to_pylist(), batch.column("text_j").to_pylist()
    ok = similarities(left, right, cfg) >= cfg.threshold
    return batch.select(["i", "j"]).filter(pa.array(ok))


_ATTACH = pa.schema([("key", pa.int64()), ("i", pa.int64()), ("j", pa.int64()), ("text_i", pa.string())])


def _as_attach(batch: pa.Table, side: str) -> pa.Table:
    """Pairs keyed by their `side` rank (texts unknown yet), or reps' texts keyed by rank (no pair)."""
    if "text" in batch.column_names:
        n, text = batch.num_rows, batch.column("text")
        none = pa.nulls(n, pa.int64())
        return pa.Table.from_arrays([batch.column("rank"), none, none, text], schema=_ATTACH)
    text = batch.column("text_i") if side == "j" else pa.nulls(batch.num_rows, pa.string())
    return pa.Table.from_arrays([batch.column(side), batch.column("i"), batch.column("j"), text], schema=_ATTACH)


def _attach(group: pa.Table, side: str) -> pa.Table:
    """One rank's pairs with that rank's text set as text_<side> (a hash join by groupby, no polars)."""
    pairs = group.filter(pc.is_valid(group.column("i")))
    texts = group.filter(pc.is_null(group.column("i"))).column("text_i").to_pylist()
    value = pa.array([texts[0] if texts else None] * pairs.num_rows, pa.string())
    out = {"i": pairs.column("i"), "j": pairs.column("j")}
    if side == "i":
        return pa.table({**out, "text_i": value})
    return pa.table({**out, "text_i": pairs.column("text_i"), "text_j": value})


def _with_text(pairs: Any, reps: Any, side: str, partitions: int) -> Any:
    kwargs = {"fn_kwargs": {"side": side}, "batch_format": "pyarrow"}
    tagged = pairs.map_batches(_as_attach, **kwargs)
    texts = reps.select_columns(["rank", "text"]).map_batches(_as_attach, **kwargs)
    return tagged.union(texts).groupby("key", num_partitions=partitions).map_groups(_attach, **kwargs)


def _edges(ds: Any, cfg: DedupConfig, partitions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All verified links (exact and near) between ranks, and each rank's exact hash (0: empty text)."""
    import ray

    sk = ds.map_batches(_sketch, fn_kwargs={"cfg": cfg}, batch_format="pyarrow").materialize()
    n = int(ds.max("rank")) + 1 if ds.count() else 0
    hashes = np.zeros(n, np.uint64)
    for ref in sk.select_columns(["rank", "exact"]).to_arrow_refs():
        table = ray.get(ref)
        hashes[table.column("rank").to_numpy()] = table.column("exact").to_numpy()
    grouped = sk.groupby("exact", num_partitions=partitions).map_groups(_exact_groups, batch_format="pyarrow")
    grouped = grouped.materialize()
    exact = grouped.filter(expr="rank != rep").select_columns(["rank", "rep"]).to_arrow_refs()
    reps = grouped.filter(expr="rank == rep").materialize()
    pairs = reps.map_batches(_explode, batch_format="pyarrow").groupby("key", num_partitions=partitions)
    pairs = pairs.map_groups(_bucket, fn_kwargs={"window": cfg.window}, batch_format="pyarrow")
    pairs = pairs.groupby(["i", "j"], num_partitions=partitions).count()
    pairs = _with_text(_with_text(pairs.select_columns(["i", "j"]), reps, "i", partitions), reps, "j", partitions)
    near = pairs.map_batches(_verify, fn_kwargs={"cfg": cfg}, batch_format="pyarrow").to_arrow_refs()
    tables = [t for t in ray.get(exact) + ray.get(near) if t.num_rows]
    i = np.concatenate([np.empty(0, np.int64), *(t.column(0).to_numpy() for t in tables)])
    j = np.concatenate([np.empty(0, np.int64), *(t.column(1).to_numpy() for t in tables)])
    return i, j, hashes


def _split(batch: pa.Table, labels: Any, hashes: Any, kept: bool) -> pa.Table:
    import ray

    labels, hashes = ray.get([labels, hashes])
    rank = batch.column("rank").to_numpy()
    root = labels[rank]
    if kept:
        return batch.filter(pa.array(root == rank))
    dropped = np.flatnonzero(root != rank)
    same = hashes[rank[dropped]] == hashes[root[dropped]]
    reason = np.where(same, "exact_duplicate", "near_duplicate")
    ids = batch.column("id").take(dropped) if "id" in batch.column_names else pa.nulls(len(dropped), pa.string())
    return pa.table({"rank": rank[dropped], "id": ids, "reason": reason, "kept_rank": root[dropped]})


def to_table(ds: Any) -> pa.Table | None:
    """A (small) Ray Dataset collected on the driver as one Arrow table (None when it has no rows)."""
    import ray

    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables(tables) if tables else None


def dedup_ray(ds: Any, config: DedupConfig | None = None, partitions: int = 8) -> tuple[Any, Any]:
    """(kept rows, rejects) of a Ray Dataset with a unique int64 `rank` column (input order)."""
    import ray

    cfg = config or DedupConfig()
    i, j, hashes = _edges(ds, cfg, partitions)
    labels = components(len(hashes), i, j)  # each rank's label: the lowest rank of its cluster, the kept row
    refs = {"labels": ray.put(labels), "hashes": ray.put(hashes)}
    kept = ds.map_batches(_split, fn_kwargs={**refs, "kept": True}, batch_format="pyarrow")
    rejects = ds.map_batches(_split, fn_kwargs={**refs, "kept": False}, batch_format="pyarrow")
    return kept, rejects
