"""Dataset -> dataset operations (score, pairwise, filter, dedup): read a published version, run
stages over its rows, publish the result as a new version of another dataset whose manifest names
the input as its parent. No Prefect here; flows/pipeline.py wraps `run_transform` as a flow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from filters.decontaminate import DecontamConfig, Decontaminate
from filters.dedup import Dedup, DedupConfig, DedupIndex
from filters.heuristics import Heuristics, HeuristicsConfig
from filters.judge import JudgeConfig, PairwiseJudge, RubricJudge
from filters.semantic import SemanticDedup, SemanticDedupConfig, SemanticIndex, load_embedder
from flows.publish import publish_version
from flows.store import DatasetStore, Version
from generators.engines import make_engine
from generators.responses import Candidates, CandidatesConfig
from schemas.config import Frozen, load_config
from schemas.errors import DatasetError
from schemas.result import StageResult


class TransformConfig(Frozen):
    """What `synthloom score|filter|dedup --config FILE` reads (every section optional)."""

    judge: JudgeConfig = JudgeConfig()
    candidates: CandidatesConfig = CandidatesConfig()
    heuristics: HeuristicsConfig = HeuristicsConfig()
    decontaminate: DecontamConfig = DecontamConfig()
    dedup: DedupConfig = DedupConfig()
    semantic_dedup: SemanticDedupConfig = SemanticDedupConfig()


Op = Callable[[pa.Table, TransformConfig, DatasetStore, str], tuple[pa.Table, list[StageResult]]]


def op_score(
    table: pa.Table, cfg: TransformConfig, store: DatasetStore, out: str
) -> tuple[pa.Table, list[StageResult]]:
    result = RubricJudge(config=cfg.judge)(table, make_engine(cfg.judge.engine))
    return result.rows, [result]


def op_pairwise(
    table: pa.Table, cfg: TransformConfig, store: DatasetStore, out: str
) -> tuple[pa.Table, list[StageResult]]:
    """Sample extra candidates with the generator engine, then judge pairs with the judge engine."""
    if "candidates" not in table.column_names:
        with_candidates = Candidates(config=cfg.candidates)(table, make_engine(cfg.judge.engine))
        table, stages = with_candidates.rows, [with_candidates]
    else:
        stages = []
    dpo, judged = PairwiseJudge(config=cfg.judge)(table, make_engine(cfg.judge.engine))
    return dpo, [*stages, judged]


def op_filter(
    table: pa.Table, cfg: TransformConfig, store: DatasetStore, out: str
) -> tuple[pa.Table, list[StageResult]]:
    """Quality heuristics, then benchmark decontamination when benchmarks are configured."""
    results = [Heuristics(config=cfg.heuristics)(table)]
    if cfg.decontaminate.sources:
        results.append(Decontaminate(config=cfg.decontaminate)(results[-1].rows))
    return results[-1].rows, results


def dedup_index(store: DatasetStore, out: str, cfg: DedupConfig) -> DedupIndex:
    return DedupIndex(store.root / out / ".dedup-index", cfg)


def sync_index(store: DatasetStore, out: str, cfg: DedupConfig) -> int:
    """Add every published version of `out` the index lacks (after a publish, or to catch up after
    a crash between publish and index update). Returns rows added."""
    index = dedup_index(store, out, cfg)
    indexed = index.versions()  # from the index's own state: no segment reads (12 s at 1000 versions before)
    return sum(index.add(v.read(), v.ref) for v in store.versions(out) if v.ref not in indexed)


def op_dedup(
    table: pa.Table, cfg: TransformConfig, store: DatasetStore, out: str
) -> tuple[pa.Table, list[StageResult]]:
    """Exact + near-duplicate removal, also against every earlier version of `out`."""
    sync_index(store, out, cfg.dedup)
    result = Dedup(config=cfg.dedup, index_dir=store.root / out / ".dedup-index")(table)
    return result.rows, [result]


def semantic_index_dir(store: DatasetStore, out: str) -> Path:
    return store.root / out / ".semantic-index"


def sync_semantic_index(store: DatasetStore, out: str, cfg: SemanticDedupConfig) -> int:
    """Embed and add every published version of `out` the semantic index lacks. Returns rows added."""
    embedder = load_embedder(cfg.model)
    index = SemanticIndex(semantic_index_dir(store, out), cfg, embedder.name)
    return index.sync([(v.ref, v.read) for v in store.versions(out)], embedder)


def op_semantic_dedup(
    table: pa.Table, cfg: TransformConfig, store: DatasetStore, out: str
) -> tuple[pa.Table, list[StageResult]]:
    """MinHash dedup, then drop paraphrased instructions (embedding similarity), both across versions of `out`."""
    rows, results = op_dedup(table, cfg, store, out)
    sync_semantic_index(store, out, cfg.semantic_dedup)
    result = SemanticDedup(config=cfg.semantic_dedup, index_dir=semantic_index_dir(store, out))(rows)
    return result.rows, [*results, result]


OPS: dict[str, Op] = {
    "score": op_score,
    "pairwise": op_pairwise,
    "filter": op_filter,
    "dedup": op_dedup,
    "semantic_dedup": op_semantic_dedup,
}


def require_columns(table: pa.Table, columns: tuple[str, ...], ref: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DatasetError(f"{ref} lacks columns {missing} (has: {', '.join(table.column_names)})")


def run_transform(op: str, root: str | Path, ref: str, out: str, cfg: TransformConfig, run_id: str) -> Version:
    store = DatasetStore(root)
    source = store.get(ref)
    table = source.read()
    require_columns(table, ("id", "instruction", "response"), source.ref)
    rows, results = OPS[op](table, cfg, store, out)
    return publish_version(
        store,
        out,
        rows,
        [r.rejects for r in results],
        [r.stats for r in results],
        {"op": op, **cfg.model_dump(mode="json")},
        run_id,
        parent_versions=[source.ref],
    )


def load_transform_config(path: Path | None, overrides: dict | None = None) -> TransformConfig:
    return load_config(TransformConfig, path, overrides)
