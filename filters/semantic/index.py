"""The persisted cross-version index (`SemanticIndex`): every published row's embedding, on disk.

    <index dir>/meta.json           model name, text column, dimension (an index only works with the same)
    <index dir>/seg-NNNNNN.parquet  one per `add`: id, version, vector (fixed-size list of float32)
    <index dir>/versions.json       the versions the segments hold (rebuilt from them when missing)
    <index dir>/pending-*.parquet   vectors a stage computed for the rows it kept (key: text hash), so the
                                    `sync` after publishing does not embed them again; removed by that sync

A segment is written to a temporary name and renamed, so a crash leaves no half segment; `sync` adds
the published versions that no segment holds yet (after a publish, or to catch up after a crash).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filters.semantic.config import SemanticDedupConfig
from filters.semantic.embed import Embedder
from schemas.errors import ConfigError


def texts_of(table: pa.Table, cfg: SemanticDedupConfig) -> list[str]:
    """The compared text per row: stripped, cut to max_chars; '' when missing."""
    if cfg.text_column not in table.column_names:
        raise ConfigError(
            f"semantic_dedup.text_column {cfg.text_column!r} is not a column (has: {', '.join(table.column_names)})"
        )
    return [str(t or "").strip()[: cfg.max_chars] for t in table.column(cfg.text_column).to_pylist()]


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def embed_texts(
    texts: list[str], embedder: Embedder, dim: int | None = None, known: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, valid): empty texts get a zero vector and valid=False; texts whose key is in `known`
    take that vector instead of being embedded."""
    valid = np.array([bool(t) for t in texts], bool)
    dense = _encode([t for t in texts if t], embedder, known or {}) if valid.any() else None
    width = dense.shape[1] if dense is not None else (dim or 0)
    vectors = np.zeros((len(texts), width), np.float32)
    if dense is not None:
        vectors[valid] = dense
    return vectors, valid


def _encode(texts: list[str], embedder: Embedder, known: dict[str, np.ndarray]) -> np.ndarray:
    keys = [text_key(t) for t in texts]
    todo = [i for i, k in enumerate(keys) if k not in known]
    fresh = embedder.encode([texts[i] for i in todo]) if todo else None
    if fresh is not None and len(todo) == len(texts):
        return fresh
    width = fresh.shape[1] if fresh is not None else len(next(iter(known.values())))
    out = np.zeros((len(texts), width), np.float32)
    for i, k in enumerate(keys):
        if k in known:
            out[i] = known[k]
    if fresh is not None:
        out[todo] = fresh
    return out


def vectors_of(segment: pa.Table) -> np.ndarray:
    """The (rows, dim) float32 matrix of a segment table's fixed-size `vector` column."""
    flat = segment.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(flat.reshape(segment.num_rows, -1), np.float32)


class SemanticIndex:
    def __init__(self, root: Path, cfg: SemanticDedupConfig, model_name: str):
        self.root = Path(root)
        self.meta = {"model": model_name, "text_column": cfg.text_column}
        self.cfg = cfg
        self._check_meta()

    def _check_meta(self) -> None:
        path = self.root / "meta.json"
        if not path.exists():
            return
        stored = json.loads(path.read_text())
        for key, value in self.meta.items():
            if stored.get(key) != value:
                raise ConfigError(
                    f"semantic index {self.root} was built with {key}={stored.get(key)!r}, not {value!r}: "
                    f"set semantic_dedup.{'model' if key == 'model' else key} to {stored.get(key)!r} "
                    "or delete that folder to re-embed every version"
                )

    def segments(self) -> list[Path]:
        return sorted(self.root.glob("seg-*.parquet"))

    def versions(self) -> set[str]:
        """The versions held: from versions.json (one small read), else from the segments."""
        listed = self.root / "versions.json"
        if listed.exists():
            return set(json.loads(listed.read_text()))
        return {v for seg in self.segments() for v in pq.read_table(seg, columns=["version"]).column(0).to_pylist()}

    def load(self) -> tuple[list[str], list[str], np.ndarray | None]:
        """(ids, versions, vectors (n, dim) or None when empty)."""
        tables = [pq.read_table(s) for s in self.segments()]
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return [], [], None
        table = pa.concat_tables(tables)
        return table.column("id").to_pylist(), table.column("version").to_pylist(), vectors_of(table)

    def add(self, ids: list[str], vectors: np.ndarray, version: str) -> int:
        """Persist one version's rows (ids and normalized vectors; rows of an empty text are skipped by callers)."""
        self.root.mkdir(parents=True, exist_ok=True)
        meta = self.root / "meta.json"
        if not meta.exists():
            meta.write_text(json.dumps({**self.meta, "dim": int(vectors.shape[1]) if vectors.size else 0}))
        dim = vectors.shape[1] if vectors.ndim == 2 else 0
        flat = pa.array(np.asarray(vectors, np.float32).reshape(-1))
        table = pa.table(
            {
                "id": pa.array(ids, pa.string()),
                "version": pa.array([version] * len(ids), pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
            }
        )
        path = self.root / f"seg-{len(self.segments()):06d}.parquet"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        pq.write_table(table, tmp)
        held = sorted(self.versions() | {version})
        os.replace(tmp, path)
        listed = self.root / f"versions.json.tmp{os.getpid()}"
        listed.write_text(json.dumps(held))
        os.replace(listed, self.root / "versions.json")
        return len(ids)

    def remember(self, texts: list[str], vectors: np.ndarray) -> None:
        """Keep vectors a stage already computed until the next `sync` (see the module docstring)."""
        if not texts:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        flat = pa.array(np.asarray(vectors, np.float32).reshape(-1))
        table = pa.table(
            {"key": [text_key(t) for t in texts], "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])}
        )
        path = self.root / f"pending-{uuid.uuid4().hex}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)

    def _pending(self) -> tuple[list[Path], dict[str, np.ndarray]]:
        files, known = sorted(self.root.glob("pending-*.parquet")), {}
        for f in files:
            t = pq.read_table(f)
            flat = t.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            known.update(zip(t.column("key").to_pylist(), flat.reshape(t.num_rows, -1), strict=True))
        return files, known

    def sync(self, versions: Iterable[tuple[str, Callable[[], pa.Table]]], embedder: Embedder) -> int:
        """Embed and add every (ref, read) version that no segment holds yet (vectors a stage
        remembered are reused, not re-embedded). Returns rows added."""
        have, added = self.versions(), 0
        pending, known = self._pending()
        for ref, read in versions:
            if ref in have:
                continue
            table = read()
            vectors, valid = embed_texts(texts_of(table, self.cfg), embedder, known=known)
            ids = [i for i, ok in zip(table.column("id").to_pylist(), valid.tolist(), strict=True) if ok]
            added += self.add(ids, vectors[valid], ref)
        if added:
            for f in pending:
                f.unlink(missing_ok=True)
        return added
