"""Every source kind through the registry: how it cuts its inputs into shards (no model calls), and
that the pipeline config accepts each kind by its `kind:` key."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from flows.run.config import PipelineConfig
from flows.sources import KINDS, PlanContext, kind_of
from flows.sources.base import loaded
from flows.store import DatasetStore
from schemas.errors import DatasetError
from schemas.stage import Stage
from tests.flows.store.test_datasets import publish

CORPUS = Path(__file__).resolve().parents[3] / "data" / "seeds" / "corpus"


def ctx(root: Path, shard_size: int = 2, tag: str = "") -> PlanContext:
    return PlanContext(root, shard_size, {"model": "m"}, tag)


def source(kind: str, **fields):
    cfg = PipelineConfig(dataset="d", sources=[{"kind": kind, **fields}])
    return cfg.sources[0]


def test_every_registered_kind_parses_and_names_a_stage(tmp_path):
    publish(DatasetStore(tmp_path), "people", ["unused"])
    needs = {"from_text": {"inputs": [str(CORPUS)]}, "dataset": {"ref": "people@v1"}}
    for kind in KINDS:
        src = source(kind, **needs.get(kind, {}))
        assert kind_of(src) is KINDS[kind] and src.kind == kind
        assert isinstance(KINDS[kind].stage(src, ctx(tmp_path)), Stage)


def test_magpie_shards_are_seed_tables_and_a_tag_moves_them(tmp_path):
    src = source("magpie", magpie={"n": 5, "seed": 10})
    plan = KINDS["magpie"].plan(src, ctx(tmp_path))
    assert [t.column("seed").to_pylist() for _, t in plan.shards] == [[10, 11], [12, 13], [14]]
    tagged = KINDS["magpie"].plan(src, ctx(tmp_path, tag="2026-11-29"))
    assert tagged.shards[0][1].column("seed").to_pylist() != [10, 11]
    assert {k for k, _ in plan.shards}.isdisjoint({k for k, _ in tagged.shards})


def test_from_text_shards_documents_and_reports_unreadable_files(tmp_path):
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01" * 40)
    src = source("from_text", inputs=[str(CORPUS), str(tmp_path / "blob.txt")], docs_per_shard=3)
    plan = KINDS["from_text"].plan(src, ctx(tmp_path))
    docs = [d for _, t in plan.shards for d in t.column("text").to_pylist()]
    assert len(plan.shards) == -(-len(docs) // 3) and all(docs)
    (report,) = plan.reads
    assert report.stats.name == "from_text:read" and [s.reason for s in report.skipped] == ["binary"]


def test_dataset_source_cuts_rows_and_names_its_parent(tmp_path):
    publish(DatasetStore(tmp_path), "src", ["a?", "b?", "c?"])
    plan = KINDS["dataset"].plan(source("dataset", ref="src", rows_per_shard=2), ctx(tmp_path))
    assert not any(isinstance(t, pa.Table) for _, t in plan.shards)  # rows are read when a shard runs
    assert [loaded(t).num_rows for _, t in plan.shards] == [2, 1] and plan.parents == ["src@v1"]
    assert [loaded(t).column("instruction").to_pylist() for _, t in plan.shards] == [["a?", "b?"], ["c?"]]
    with pytest.raises(DatasetError, match=r"src@v1 lacks columns \['nope'\]"):
        KINDS["dataset"].plan(source("dataset", ref="src", columns=["nope"]), ctx(tmp_path))


def test_persona_sources_read_seeds_or_a_dataset(tmp_path):
    tasks = KINDS["persona_tasks"].plan(source("persona_tasks", limit=3), ctx(tmp_path))
    assert [t.num_rows for _, t in tasks.shards] == [2, 1] and tasks.parents == []
    build = KINDS["personas"].plan(source("personas", inputs=[str(CORPUS / "tides.md")]), ctx(tmp_path))
    ((_key, chunks),) = build.shards  # one shard: dedup spans the whole build
    assert chunks.num_rows >= 1 and set(chunks.column_names) == {"id", "text"}
    with pytest.raises(ValueError, match="not both"):
        source("personas", inputs=["x"], expand="people@v1")
