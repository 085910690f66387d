"""Semantic dedup logic with a fake embedder (fixed vectors); one integration test loads real MiniLM."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from filters.semantic import SemanticDedup, SemanticDedupConfig, SemanticIndex, nearest_kept
from filters.semantic.embed import normalized
from schemas.errors import ConfigError

DIM = 64


def _random(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return np.random.default_rng(seed).standard_normal(DIM)


def _mix(a: str, b: str, cos: float) -> np.ndarray:
    """A unit vector with cosine ~`cos` to a's vector (b's vector supplies the orthogonal part)."""
    u, w = normalized(_random(a)[None])[0], _random(b)
    w = w - (w @ u) * u
    return cos * u + np.sqrt(1 - cos**2) * w / np.linalg.norm(w)


class FakeEmbedder:
    name = "fake"

    def __init__(self, fixed: dict[str, np.ndarray] | None = None):
        self.fixed = fixed or {}
        self.calls = 0
        self.seen: list[str] = []

    def encode(self, texts):
        self.calls += 1
        self.seen.extend(texts)
        return normalized(np.stack([self.fixed.get(t, _random(t)) for t in texts]))


FIXED = {
    "reverse a list in python": _random("reverse a list in python"),
    "how do i flip a python list": _mix("reverse a list in python", "x", 0.95),
    "sort a dict by value": _random("sort a dict by value"),
    "order a dictionary by its values": _mix("sort a dict by value", "y", 0.90),
}


def _table(texts, ids=None):
    ids = ids or [f"r{i}" for i in range(len(texts))]
    return pa.table({"id": ids, "instruction": texts, "response": ["ok"] * len(texts)})


def test_paraphrase_dropped_with_detail_and_nn_column():
    table = _table(["reverse a list in python", "sort a dict by value", "how do i flip a python list"])
    result = SemanticDedup(config=SemanticDedupConfig(threshold=0.9))(table, FakeEmbedder(FIXED))
    assert result.rows.column("id").to_pylist() == ["r0", "r1"]
    reject = result.rejects.to_pylist()[0]
    assert reject["reason"] == "semantic_duplicate" and reject["stage"] == "semantic_dedup"
    assert reject["detail"].startswith("kept=r0 similarity=0.95")
    assert reject["raw_text"] == "how do i flip a python list"
    nn = result.rows.column("nn_similarity").to_pylist()
    assert nn[0] is None and abs(nn[1]) < 0.5
    assert result.stats.rows_in == 3 and result.stats.rejected == 1


def test_threshold_is_inclusive_boundary():
    table = _table(["sort a dict by value", "order a dictionary by its values"])
    kept = SemanticDedup(config=SemanticDedupConfig(threshold=0.91))(table, FakeEmbedder(FIXED))
    dropped = SemanticDedup(config=SemanticDedupConfig(threshold=0.89))(table, FakeEmbedder(FIXED))
    assert kept.rows.num_rows == 2 and dropped.rows.num_rows == 1


def test_compared_with_kept_rows_only():
    a, b = _random("a"), None
    b = _mix("a", "b", 0.95)
    # c is close to b (dropped) but not to a: it must be kept, and its nn_similarity is to a.
    c = 0.95 * normalized(b[None])[0] + 0.312 * normalized(_random("c")[None])[0]
    emb = FakeEmbedder({"a": a, "b": b, "c": c})
    result = SemanticDedup(config=SemanticDedupConfig(threshold=0.92))(_table(["a", "b", "c"]), emb)
    sims = [float(normalized(np.stack([a, c]))[0] @ normalized(np.stack([a, c]))[1])]
    assert sims[0] < 0.92
    assert result.rows.column("id").to_pylist() == ["r0", "r2"]
    assert result.rows.column("nn_similarity").to_pylist()[1] == pytest.approx(sims[0], abs=1e-3)


def test_blocks_give_the_same_verdicts():
    texts = list(FIXED) * 3 + [f"unrelated {i}" for i in range(7)]
    one = SemanticDedup(config=SemanticDedupConfig(threshold=0.85))(_table(texts), FakeEmbedder(FIXED))
    small = SemanticDedup(config=SemanticDedupConfig(threshold=0.85, batch_rows=2))(_table(texts), FakeEmbedder(FIXED))
    assert one.rows.column("id").to_pylist() == small.rows.column("id").to_pylist()
    assert one.rows.column("id").to_pylist() == ["r0", "r2"] + [f"r{12 + i}" for i in range(7)]
    assert one.rejects.column("detail").to_pylist() == small.rejects.column("detail").to_pylist()


def test_empty_texts_kept_and_not_compared():
    result = SemanticDedup()(_table(["", "  ", "reverse a list in python", None]), FakeEmbedder(FIXED))
    assert result.rows.num_rows == 4
    assert result.rows.column("nn_similarity").to_pylist() == [None, None, None, None]


def test_nearest_kept_refs_point_at_prior_then_new_rows():
    prior = normalized(np.stack([_random("p0"), _random("p1")]))
    new = normalized(np.stack([_mix("p1", "z", 0.99), _random("n1"), _mix("n1", "w", 0.97)]))
    sims, refs, keep = nearest_kept(new, np.ones(3, bool), prior, 0.9)
    assert keep.tolist() == [False, True, False]
    assert refs[0] == 1 and refs[2] == 2 + 1
    assert sims[0] == pytest.approx(0.99, abs=1e-4)


def test_across_versions_with_index(tmp_path):
    cfg = SemanticDedupConfig(threshold=0.9)
    emb = FakeEmbedder(FIXED)
    index = SemanticIndex(tmp_path / ".semantic-index", cfg, emb.name)
    v1 = _table(["reverse a list in python", ""], ids=["old0", "old1"])
    assert index.sync([("demo@v1", lambda: v1)], emb) == 1
    assert index.sync([("demo@v1", lambda: v1)], emb) == 0  # incremental: nothing re-embedded
    (tmp_path / ".semantic-index" / "versions.json").unlink()
    assert index.versions() == {"demo@v1"}  # rebuilt from the segments
    stage = SemanticDedup(config=cfg, index_dir=tmp_path / ".semantic-index")
    result = stage(_table(["how do i flip a python list", "sort a dict by value"]), emb)
    assert result.rows.column("id").to_pylist() == ["r1"]
    assert result.rejects.column("detail").to_pylist()[0].startswith("version=demo@v1 kept=old0 similarity=0.95")
    assert result.rows.column("nn_similarity").to_pylist()[0] < 0.5


def test_index_built_with_another_model_is_refused(tmp_path):
    cfg = SemanticDedupConfig()
    SemanticIndex(tmp_path, cfg, "fake").add(["a"], normalized(_random("a")[None]), "d@v1")
    with pytest.raises(ConfigError, match="model='fake'.*delete that folder"):
        SemanticIndex(tmp_path, cfg, "all-minilm-l6-v2")


def test_missing_column_is_a_config_error():
    with pytest.raises(ConfigError, match="text_column 'persona'"):
        SemanticDedup(config=SemanticDedupConfig(text_column="persona"))(_table(["x"]), FakeEmbedder())


@pytest.mark.integration
def test_real_minilm_catches_a_paraphrase(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHLOOM_MODEL_CACHE", str(tmp_path / "models"))
    from filters.semantic.embed import load_embedder

    load_embedder.cache_clear()
    table = _table(
        [
            "How do I reverse a list in Python?",
            "What is the capital of Australia?",
            "What's the way to reverse the order of a list in Python?",
            "Write a haiku about autumn leaves.",
        ]
    )
    result = SemanticDedup()(table)
    assert result.rows.column("id").to_pylist() == ["r0", "r1", "r3"]
    assert result.rejects.column("detail").to_pylist()[0].startswith("kept=r0 ")
    load_embedder.cache_clear()


def _publish(store, name, texts, ids):
    from flows.report import write_card
    from flows.store.publish import publish_version
    from schemas.manifest import StageStats

    stats = StageStats(name="seed", rows_in=len(texts), rows_out=len(texts), rejected=0)
    return publish_version(store, name, _table(texts, ids), [], [stats], {}, "run-0", card=write_card)


def test_dedup_semantic_op_across_published_versions(tmp_path, monkeypatch):
    """`synthloom dedup --semantic`'s pipeline, run without Prefect: the second run drops a paraphrase
    of the first's rows."""
    import filters.semantic.stage
    import flows.run.indexes
    from flows.run import one_off
    from flows.run.core import PipelineRun
    from flows.run.order import run_in_process
    from flows.store import DatasetStore

    def run_transform(ref: str, run_id: str):
        (version,) = run_in_process(
            PipelineRun(one_off.transform("semantic_dedup", ref, "out", cfg), tmp_path, "", run_id)
        )
        return version

    emb = FakeEmbedder(FIXED)
    monkeypatch.setattr(flows.run.indexes, "load_embedder", lambda model: emb)
    monkeypatch.setattr(filters.semantic.stage, "load_embedder", lambda model: emb)
    store = DatasetStore(tmp_path)
    cfg = one_off.TransformConfig(semantic_dedup=SemanticDedupConfig(threshold=0.85))
    _publish(store, "src", ["reverse a list in python", "how do i flip a python list", "sort a dict by value"], None)
    v1 = run_transform("src@v1", "run-1")
    assert v1.read().column("id").to_pylist() == ["r0", "r2"]
    assert "semantic_dedup" in [s.name for s in v1.manifest().stages]
    _publish(store, "src", ["order a dictionary by its values", "brand new question"], ["n0", "n1"])
    v2 = run_transform("src@v2", "run-2")
    assert v2.read().column("id").to_pylist() == ["n1"]
    details = v2.read("rejects").column("detail").to_pylist()
    assert any(d.startswith("version=out@v1 kept=r2 similarity=0.90") for d in details)
    index = SemanticIndex(tmp_path / "out" / ".semantic-index", cfg.semantic_dedup, "fake")
    assert index.versions() == {"out@v1", "out@v2"}  # the run core indexes each version right after publishing it
    assert emb.seen.count("sort a dict by value") == 1  # the stage's vectors were reused when indexing out@v1
    assert not list((tmp_path / "out" / ".semantic-index").glob("pending-*"))
    card = (v1.path / "card" / "README.md").read_text()
    assert "## Diversity" in card and "| distinct-2 (instructions) | 1.000 |" in card
    assert "mean nearest-neighbour distance (1 - cosine)" in card


def test_diversity_figures():
    from filters.semantic.diversity import distinct_n, mix, nn_stats

    assert distinct_n(["a b a b", "a b"], 1) == pytest.approx(2 / 6)
    assert distinct_n(["a b a b", "a b"], 2) == pytest.approx(2 / 4)
    assert distinct_n([""], 2) == 0.0
    rows = pa.table({"nn_similarity": [None, 0.2, 0.6], "judge_category": ["math", "math", "code"]})
    assert nn_stats(rows) == pytest.approx({"mean": 0.4, "median": 0.4, "mean_distance": 0.6})
    assert nn_stats(pa.table({"x": [1]})) is None
    assert mix(rows, "judge_category", top=1) == [("math", 2), ("other", 1)]


def test_pipeline_config_switch_defaults_off():
    from flows.run.config import PipelineConfig

    base = {"dataset": "d", "sources": [{"kind": "magpie"}]}
    assert PipelineConfig(**base).semantic_dedup is None
    assert PipelineConfig(**base, semantic_dedup={"threshold": 0.8}).semantic_dedup.threshold == 0.8


def test_pipeline_filter_all_runs_semantic_after_minhash(tmp_path, monkeypatch):
    """`synthloom run`'s finish with `semantic_dedup:` on: MinHash first, then the semantic stage."""
    from types import SimpleNamespace

    import filters.semantic.stage
    import flows.run.indexes
    from flows.run.config import PipelineConfig
    from flows.run.finish import Gathered, filter_all
    from flows.store import DatasetStore

    emb = FakeEmbedder(FIXED)
    monkeypatch.setattr(flows.run.indexes, "load_embedder", lambda model: emb)
    monkeypatch.setattr(filters.semantic.stage, "load_embedder", lambda model: emb)
    cfg = PipelineConfig(dataset="d", sources=[{"kind": "magpie"}], semantic_dedup={"threshold": 0.85})
    texts = ["reverse a list in python", "reverse a list in python", "how do i flip a python list", "x y"]
    g = Gathered(rows=[_table(texts)])
    rows = filter_all(SimpleNamespace(cfg=cfg), DatasetStore(tmp_path), g, tmp_path).read()
    assert rows.column("id").to_pylist() == ["r0", "r3"]
    assert list(g.stages) == ["merge", "dedup", "semantic_dedup"]
    assert (g.stages["dedup"].rejected, g.stages["semantic_dedup"].rejected) == (1, 1)
    assert "nn_similarity" in rows.column_names
