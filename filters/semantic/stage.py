"""The greedy nearest-kept-neighbour pass (`nearest_kept`) and the stage (`SemanticDedup`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from filters.base import split_rows
from filters.semantic.config import NN_COLUMN, STAGE, SemanticDedupConfig
from filters.semantic.embed import Embedder, load_embedder
from filters.semantic.index import SemanticIndex, embed_texts, texts_of
from schemas.config import Frozen
from schemas.result import StageResult
from schemas.stage import StageContext


def _faiss_index(prior: np.ndarray | None, dim: int):  # -> faiss.IndexFlatIP
    import faiss

    index = faiss.IndexFlatIP(dim)
    if prior is not None and len(prior):
        index.add(prior)
    return index


def nearest_kept(
    vectors: np.ndarray, valid: np.ndarray, prior: np.ndarray | None, threshold: float, block: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows in order; each is compared with the prior rows and the rows kept before it.

    Returns (sims, refs, keep): sims[i] the highest cosine to those (NaN when there are none or the
    row is invalid), refs[i] which one (p < len(prior): prior row p; else new row p - len(prior)),
    keep[i] False when sims[i] >= threshold. Invalid rows are kept and never compared."""
    n, n_prior = len(vectors), 0 if prior is None else len(prior)
    sims, refs, keep = np.full(n, np.nan), np.full(n, -1, np.int64), np.ones(n, bool)
    if not n or not valid.any():
        return sims, refs, keep
    index = _faiss_index(prior, vectors.shape[1])
    owner = np.arange(n_prior, dtype=np.int64).tolist()  # faiss position -> ref
    for lo in range(0, n, block):
        v, ok = vectors[lo : lo + block], valid[lo : lo + block]
        if index.ntotal:
            d, pos = index.search(v, 1)
            sims[lo : lo + len(v)] = np.where(ok, d[:, 0], np.nan)
            refs[lo : lo + len(v)] = [owner[p] if p >= 0 else -1 for p in pos[:, 0].tolist()]
        local = v @ v.T
        kept_local: list[int] = []
        for i in np.flatnonzero(ok).tolist():
            if kept_local:
                j = int(np.argmax(local[i, kept_local]))
                s = float(local[i, kept_local[j]])
                if np.isnan(sims[lo + i]) or s > sims[lo + i]:
                    sims[lo + i], refs[lo + i] = s, n_prior + lo + kept_local[j]
            if sims[lo + i] >= threshold:
                keep[lo + i] = False
            else:
                kept_local.append(i)
        if kept_local:
            index.add(np.ascontiguousarray(v[kept_local]))
            owner.extend(n_prior + lo + k for k in kept_local)
    return sims, refs, keep


class SemanticDedup(Frozen):
    """`SemanticDedup(config=..., index_dir=...)(table, embedder=None) -> StageResult`: kept rows gain
    `nn_similarity`; with `index_dir`, rows of earlier versions in that `SemanticIndex` count as kept."""

    version: ClassVar[str] = "1"
    config: SemanticDedupConfig = SemanticDedupConfig()
    index_dir: Path | None = None

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """The stage contract (schemas/stage.py): no model needed."""
        return self(rows).named(ctx.name)

    def run_stream(
        self, batches: Iterator[pa.RecordBatch], schema: pa.Schema, ctx: StageContext
    ) -> Iterator[StageResult]:
        """The finish-stage contract (schemas/stage.py: GlobalStage): it compares every row with every
        row, so it gathers the stream (the one finish stage that holds all rows) and yields one result."""
        yield self(pa.Table.from_batches(list(batches), schema)).named(ctx.name)

    def open_index(self, embedder: Embedder) -> SemanticIndex | None:
        return SemanticIndex(self.index_dir, self.config, embedder.name) if self.index_dir is not None else None

    def __call__(self, table: pa.Table, embedder: Embedder | None = None) -> StageResult:
        started = time.perf_counter()
        cfg = self.config
        texts = texts_of(table, cfg)
        embedder = embedder or load_embedder(cfg.model)
        index = self.open_index(embedder)
        prior_ids, prior_versions, prior = index.load() if index is not None else ([], [], None)
        vectors, valid = embed_texts(texts, embedder, prior.shape[1] if prior is not None else None)
        sims, refs, keep = nearest_kept(vectors, valid, prior, cfg.threshold, cfg.batch_rows)
        if index is not None:
            kept = keep & valid
            index.remember([t for t, k in zip(texts, kept.tolist(), strict=True) if k], vectors[kept])
        ids = [str(i) for i in table.column("id").to_pylist()] if "id" in table.column_names else []
        verdicts: list[tuple[str, str] | None] = [None] * table.num_rows
        for i in np.flatnonzero(~keep).tolist():
            r = int(refs[i])
            where = f"version={prior_versions[r]} kept={prior_ids[r]}" if r < len(prior_ids) else ""
            where = where or f"kept={ids[r - len(prior_ids)] if ids else f'row{r - len(prior_ids)}'}"
            verdicts[i] = ("semantic_duplicate", f"{where} similarity={sims[i]:.3f}")
        result = split_rows(table, STAGE, verdicts, raw_column=cfg.text_column, started=started)
        nn = pa.array([None if np.isnan(s) else round(float(s), 4) for s in sims[keep]], pa.float32())
        rows = result.rows
        if NN_COLUMN in rows.column_names:
            rows = rows.drop_columns([NN_COLUMN])
        return StageResult(rows.append_column(NN_COLUMN, nn), result.rejects, result.stats)
