"""The finish stages, by name, in the order a run's finish applies them to the merged rows.

Each builder takes (run, store) and returns the stage (schemas/stage.py: GlobalStage), or None when
the config leaves it off. Building one brings its cross-version index up to date first (published
versions it lacks, `dedup_against`), so a stage sees earlier versions before its first batch.
To add a finish stage: write its class with `run_stream`, add a builder here, add its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from filters.decontaminate import Decontaminate
from filters.dedup import Dedup
from filters.semantic import SemanticDedup
from flows.run.indexes import dedup_index_dir, index_against, semantic_index_dir, sync_index, sync_semantic_index
from flows.store import DatasetStore
from schemas.stage import GlobalStage

if TYPE_CHECKING:
    from flows.run.core import PipelineRun

Builder = Callable[["PipelineRun", DatasetStore], GlobalStage | None]


def _dedup(run: PipelineRun, store: DatasetStore) -> GlobalStage | None:
    """MinHash dedup, also against the dataset's earlier versions and `dedup_against` versions."""
    cfg, name = run.cfg.dedup, run.cfg.dataset
    if cfg is None:
        return None
    sync_index(store, name, cfg)
    index_against(store, name, cfg, run.cfg.dedup_against)
    return Dedup(config=cfg, index_dir=dedup_index_dir(store, name))


def _semantic_dedup(run: PipelineRun, store: DatasetStore) -> GlobalStage | None:
    """Embedding dedup, also against the dataset's earlier versions (it holds every row at once)."""
    cfg, name = run.cfg.semantic_dedup, run.cfg.dataset
    if cfg is None:
        return None
    sync_semantic_index(store, name, cfg)
    return SemanticDedup(config=cfg, index_dir=semantic_index_dir(store, name))


def _decontaminate(run: PipelineRun, store: DatasetStore) -> GlobalStage | None:
    """Benchmark decontamination, on when the config names benchmark sources."""
    cfg = run.cfg.decontaminate
    return Decontaminate(config=cfg) if cfg.sources else None


FINISH: dict[str, Builder] = {  # the finish stages, in run order
    "dedup": _dedup,
    "semantic_dedup": _semantic_dedup,
    "decontaminate": _decontaminate,
}


def _sync_dedup(run: PipelineRun, store: DatasetStore) -> None:
    if run.cfg.dedup is not None:
        sync_index(store, run.cfg.dataset, run.cfg.dedup)


def _sync_semantic(run: PipelineRun, store: DatasetStore) -> None:
    if run.cfg.semantic_dedup is not None:
        sync_semantic_index(store, run.cfg.dataset, run.cfg.semantic_dedup)


SYNC: dict[str, Callable[[PipelineRun, DatasetStore], None]] = {  # finish stages that keep an index
    "dedup": _sync_dedup,
    "semantic_dedup": _sync_semantic,
}


def sync_indexes(run: PipelineRun, store: DatasetStore) -> None:
    """After a publish: add the new version to the indexes of the finish stages that keep one."""
    for sync in SYNC.values():
        sync(run, store)
