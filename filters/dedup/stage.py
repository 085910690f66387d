"""One batch against the rows seen before, the stream of batches, and the stage (`Dedup`)."""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa

from filters.base import split_rows
from filters.dedup.batches import batches_of
from filters.dedup.sketches import Sketch, candidate_pairs, components, permutations, row_ids, similarities, sketch
from filters.dedup.store import RunStore, Store
from schemas.config import Frozen
from schemas.dedup_config import STAGE, DedupConfig
from schemas.manifest import StageStats
from schemas.result import StageResult
from schemas.stage import StageContext

if TYPE_CHECKING:
    from filters.dedup.index import DedupIndex

NO_RANK = np.iinfo(np.int64).max

Verdict = tuple[str, str] | None


def _prior_roots(store: Store, sk: Sketch, cfg: DedupConfig) -> np.ndarray:
    """Per rep: the smallest root rank among stored rows it duplicates (same hash, or a verified
    near duplicate), else NO_RANK. A rep with an exact match is not also checked for near ones.
    Candidates are verified in rounds, each rep's likeliest first, skipping any whose root could not
    lower the rep's best so far (the result is the same as verifying all, with far fewer calls)."""
    best = np.full(len(sk.reps), NO_RANK, np.int64)
    if store.size == 0 or not len(sk.reps):
        return best
    pos = store.exact(sk.hashes[sk.reps])
    hit = np.flatnonzero(pos >= 0)
    best[hit] = store.roots(pos[hit])
    todo = np.flatnonzero(pos < 0)
    q, p, rank = store.near(sk.keys[todo], cfg.max_candidates)
    q, roots = todo[q], store.roots(p)
    bounds = np.searchsorted(rank, np.arange(rank.max() + 2 if len(rank) else 0))
    for lo, hi in itertools.pairwise(bounds):
        sel = lo + np.flatnonzero(roots[lo:hi] < best[q[lo:hi]])
        ok = similarities([sk.rep_list[k] for k in q[sel]], store.texts(p[sel]), cfg) >= cfg.threshold
        np.minimum.at(best, q[sel][ok], roots[sel][ok])
    return best


def _local_edges(sk: Sketch, cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
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
    best = np.full(n_reps, NO_RANK, np.int64)
    np.minimum.at(best, labels, np.minimum(base + np.arange(n_reps), prior))
    return best[labels]


@dataclass(frozen=True)
class _Kept:
    """Kept rows, described for the details of the rows they replace."""

    ids: list[str]
    hashes: np.ndarray
    labels: list[str]
    texts: list[str]


def _describe(ranks: np.ndarray, stores: Sequence[Store], sk: Sketch, ids: pa.Array, base: int) -> _Kept:
    unique, inverse = np.unique(ranks, return_inverse=True)
    out_ids, labels, texts = [""] * len(unique), [""] * len(unique), [""] * len(unique)
    hashes = np.zeros(len(unique), np.uint64)
    for store in stores:
        sel = np.flatnonzero((unique >= store.rank0) & (unique < store.rank0 + store.size))
        if len(sel):
            ids_, labels_, hashes[sel], texts_ = store.describe(unique[sel] - store.rank0)
            for k, row_id, label, text in zip(sel.tolist(), ids_, labels_, texts_, strict=True):
                out_ids[k], labels[k], texts[k] = row_id, label or "", text
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


def _verdicts(sk: Sketch, root: np.ndarray, ids: pa.Array, index: Store, run: Store, cfg: DedupConfig) -> list[Verdict]:
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

    def __init__(self, cfg: DedupConfig, index: DedupIndex | None, spill_dir: Path):
        self.cfg = cfg
        self.perm = permutations(cfg.num_perm, cfg.seed)
        self.index: Store = index.store if index is not None else Store(0)
        self.run = RunStore(self.index.size, spill_dir)
        self.rows_seen = 0

    def __call__(self, batch: pa.RecordBatch) -> StageResult:
        started = time.perf_counter()
        cfg, run = self.cfg, self.run
        sk = sketch(batch, cfg, self.perm, near=cfg.near)
        ids = row_ids(batch, self.rows_seen)
        prior = np.minimum(_prior_roots(self.index, sk, cfg), _prior_roots(run, sk, cfg))
        edges = _local_edges(sk, cfg)
        root = _roots(len(sk.reps), run.rank0 + run.size, prior, edges)
        verdicts = _verdicts(sk, root, ids, self.index, run, cfg)
        run.append(sk.hashes[sk.reps], sk.keys, root, ids.take(pa.array(sk.reps, pa.int64())), sk.rep_texts)
        self.rows_seen += batch.num_rows
        return split_rows(pa.Table.from_batches([batch]), STAGE, verdicts, started=started)


# ---------------------------------------------------------------- streaming + the stage


def dedup_batches(
    batches: pa.Table | Iterable[pa.RecordBatch], config: DedupConfig | None = None, index: DedupIndex | None = None
) -> Iterator[StageResult]:
    """Dedup a stream of record batches (re-cut to `config.batch_rows`), yielding one StageResult per
    batch as soon as it is done; a row kept in a yielded batch stays kept. Memory grows with the rows'
    sketches, not their text (see the package docstring)."""
    cfg = config or DedupConfig()
    if index is not None:
        index.check(cfg)
    with tempfile.TemporaryDirectory(prefix="synthloom-dedup-", dir=cfg.spill_dir) as spill:
        dedup = _Deduper(cfg, index, Path(spill))
        try:
            for batch in batches_of(batches, cfg.batch_rows):
                yield dedup(batch)
        finally:
            dedup.run.close()


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

    version: ClassVar[str] = "1"
    config: DedupConfig = DedupConfig()
    index_dir: Path | None = None

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """The stage contract (schemas/stage.py): no model needed."""
        return self(rows).named(ctx.name)

    def open_index(self) -> DedupIndex | None:
        from filters.dedup.index import DedupIndex

        return DedupIndex(self.index_dir, self.config) if self.index_dir is not None else None

    def __call__(self, table: pa.Table) -> StageResult:
        started = time.perf_counter()
        return combine(table, list(self.stream(table)), started)

    def stream(self, batches: pa.Table | Iterable[pa.RecordBatch]) -> Iterator[StageResult]:
        return dedup_batches(batches, self.config, self.open_index())

    def run_stream(
        self, batches: Iterator[pa.RecordBatch], schema: pa.Schema, ctx: StageContext
    ) -> Iterator[StageResult]:
        """The finish-stage contract (schemas/stage.py: GlobalStage): `stream`, under the pipeline's name."""
        return (result.named(ctx.name) for result in self.stream(batches))
