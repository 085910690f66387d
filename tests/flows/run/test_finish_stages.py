"""Finish stages under one contract (schemas/stage.py: GlobalStage, `run_stream`) and one registry
(flows/run/finish_stages.py: FINISH; flows/run/registry.py: every built-in name)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import Field

import filters.semantic.stage
from filters.base import split_rows
from filters.decontaminate import DecontamConfig, Decontaminate
from filters.dedup import Dedup, DedupConfig
from filters.semantic import SemanticDedup, SemanticDedupConfig
from flows.run.core import BUILDERS
from flows.run.finish import Gathered, filter_all
from flows.run.finish_stages import FINISH
from flows.run.registry import stage_kinds
from flows.run.user_stages import BUILT_IN
from flows.store import DatasetStore
from schemas.config import Frozen
from schemas.errors import DatasetError
from schemas.result import StageResult
from schemas.stage import GlobalStage, StageContext
from tests.filters.test_semantic import FIXED, FakeEmbedder
from tests.flows.helpers import stage_result

TEXTS = [
    "How do I sort a list of strings in Python by their length, keeping ties stable?",
    "Write a haiku about the first frost on a vegetable garden.",
    "HOW DO I SORT A LIST OF STRINGS IN PYTHON BY THEIR LENGTH, KEEPING TIES STABLE?",  # exact dup of 0
    "What causes the seasons on Earth, and why is it not the distance to the Sun?",
    "Prove that the square root of two is irrational.",
    "Explain compound interest to a twelve-year-old with one worked example.",
    "Write a haiku about the first frost on a vegetable garden.  ",  # exact dup of 1
]
REJECT_COLUMNS = ["id", "stage", "reason", "detail", "raw_text", "record"]


def rows() -> pa.Table:
    return stage_result(TEXTS, rejected=0).rows


def bench(tmp_path) -> DecontamConfig:
    path = tmp_path / "bench.jsonl"
    path.write_text(json.dumps({"id": "q1", "question": TEXTS[4]}) + "\n")
    return DecontamConfig(sources=(path,))


def streamed(stage: GlobalStage, table: pa.Table, name: str, batch_rows: int = 2) -> list[StageResult]:
    ctx = StageContext(name, "run-1")
    return list(stage.run_stream(iter(table.to_batches(max_chunksize=batch_rows)), table.schema, ctx))


def accounted(results: list[StageResult], rows_in: int, name: str) -> None:
    """Every row in is kept or rejected, and every result is under the pipeline's name."""
    kept = sum(r.rows.num_rows for r in results)
    rejected = sum(r.rejects.num_rows for r in results)
    assert kept + rejected == rows_in == sum(r.stats.rows_in for r in results)
    assert {r.stats.name for r in results} == {name}
    assert all(set(r.rejects.column("stage").to_pylist()) <= {name} for r in results)


def reasons(results: list[StageResult]) -> list[str]:
    return sorted(x for r in results for x in r.rejects.column("reason").to_pylist())


def kept_ids(results: list[StageResult]) -> list[str]:
    return [i for r in results for i in r.rows.column("id").to_pylist()]


def test_the_three_finish_stages_meet_the_contract(tmp_path):
    for stage in (Dedup(), SemanticDedup(), Decontaminate(config=bench(tmp_path))):
        assert isinstance(stage, GlobalStage)


def test_dedup_streams_one_result_per_batch_like_its_old_calls():
    table, cfg = rows(), DedupConfig(batch_rows=2)
    results = streamed(Dedup(config=cfg), table, "dedup_late")
    accounted(results, table.num_rows, "dedup_late")
    assert len(results) == 4 and reasons(results) == ["exact_duplicate", "exact_duplicate"]
    old = Dedup(config=cfg)(table)
    assert kept_ids(results) == old.rows.column("id").to_pylist()
    details = sorted(d for r in results for d in r.rejects.column("detail").to_pylist())
    assert details == sorted(old.rejects.column("detail").to_pylist())


def test_decontaminate_matches_batch_by_batch_like_its_old_call(tmp_path):
    table, stage = rows(), Decontaminate(config=bench(tmp_path))
    results = streamed(stage, table, "decontaminate")
    accounted(results, table.num_rows, "decontaminate")
    assert len(results) == 4 and reasons(results) == ["benchmark_contamination"]
    old = stage(table)
    assert kept_ids(results) == old.rows.column("id").to_pylist()
    assert results[2].rejects.column("detail").to_pylist() == old.rejects.column("detail").to_pylist()


def test_decontaminate_names_a_missing_column_even_with_no_rows(tmp_path):
    stage = Decontaminate(config=bench(tmp_path).model_copy(update={"text_columns": ("nope",)}))
    with pytest.raises(DatasetError, match="nope"):
        streamed(stage, rows().slice(0, 0), "decontaminate")


def test_semantic_dedup_gathers_the_stream_into_one_result(monkeypatch):
    monkeypatch.setattr(filters.semantic.stage, "load_embedder", lambda model: FakeEmbedder(FIXED))
    texts = ["reverse a list in python", "sort a dict by value", "how do i flip a python list"]
    table = pa.table({"id": ["r0", "r1", "r2"], "instruction": texts, "response": ["ok"] * 3})
    stage = SemanticDedup(config=SemanticDedupConfig(threshold=0.9))
    results = streamed(stage, table, "semantic_dedup", batch_rows=1)
    accounted(results, 3, "semantic_dedup")
    assert len(results) == 1 and kept_ids(results) == ["r0", "r1"] and reasons(results) == ["semantic_duplicate"]
    assert "nn_similarity" in results[0].rows.column_names


def run_cfg(tmp_path, **over) -> SimpleNamespace:
    fields = {"dataset": "d", "dedup": DedupConfig(batch_rows=2), "semantic_dedup": None, "dedup_against": ()}
    return SimpleNamespace(cfg=SimpleNamespace(**{**fields, "decontaminate": bench(tmp_path), **over}))


def old_finish(table: pa.Table, tmp_path) -> tuple[pa.Table, pa.Table]:
    """Today's finish before the registry, stage by stage: Dedup.stream, then Decontaminate per batch."""
    dedup = Dedup(config=DedupConfig(batch_rows=2))
    results = list(dedup.stream(iter(table.to_batches())))
    decontaminate = Decontaminate(config=bench(tmp_path))
    later = [decontaminate(pa.Table.from_batches([b])) for r in results for b in r.rows.to_batches()]
    rejects = pa.concat_tables(r.rejects for r in [*results, *later])
    return pa.concat_tables(r.rows for r in later), rejects


def by_id(rejects: pa.Table) -> list[dict]:
    return sorted(rejects.select(REJECT_COLUMNS).to_pylist(), key=lambda r: r["id"])


def test_filter_all_gives_the_rows_and_rejects_of_the_stages_called_directly(tmp_path):
    table = rows()
    g = Gathered(rows=[table])
    got = filter_all(run_cfg(tmp_path), DatasetStore(tmp_path / "ds"), g, tmp_path).read()
    want, want_rejects = old_finish(table, tmp_path)
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    assert got.column("instruction").to_pylist() == want.column("instruction").to_pylist()
    assert by_id(pa.concat_tables(g.rejects)) == by_id(want_rejects)
    counts = {n: (s.rows_in, s.rows_out, s.rejected) for n, s in g.stages.items()}
    assert counts == {"merge": (7, 7, 0), "dedup": (7, 5, 2), "decontaminate": (5, 4, 1)}


class ShoutConfig(Frozen):
    column: str = "loud"


class Shout(Frozen):
    """A finish stage of our own: adds a column, counts the batches it was handed."""

    version: ClassVar[str] = "1"
    config: ShoutConfig = ShoutConfig()
    seen: list[int] = Field(default_factory=list)

    def run_stream(
        self, batches: Iterator[pa.RecordBatch], schema: pa.Schema, ctx: StageContext
    ) -> Iterator[StageResult]:
        for batch in batches:
            self.seen.append(batch.num_rows)
            table = pa.Table.from_batches([batch])
            loud = table.append_column(self.config.column, pc.utf8_upper(table.column("instruction")))
            yield split_rows(loud, ctx.name, [None] * loud.num_rows)


def test_a_registered_stage_runs_in_order_and_its_columns_reach_the_spill(tmp_path, monkeypatch):
    stage = Shout(seen=[])
    monkeypatch.setitem(FINISH, "shout", lambda run, store: stage)
    g = Gathered(rows=[rows()])
    got = filter_all(run_cfg(tmp_path), DatasetStore(tmp_path / "ds"), g, tmp_path).read()
    assert list(g.stages) == ["merge", "dedup", "decontaminate", "shout"]
    assert got.column("loud").to_pylist() == [t.upper() for t in got.column("instruction").to_pylist()]
    assert sum(stage.seen) == 4 and max(stage.seen) <= 2  # batch by batch, as dedup cut them


def test_a_registered_stage_with_nothing_to_do_is_still_in_the_stats(tmp_path, monkeypatch):
    monkeypatch.setitem(FINISH, "shout", lambda run, store: Shout(seen=[]))
    g = Gathered(rows=[rows().slice(0, 0)])
    got = filter_all(run_cfg(tmp_path, dedup=None), DatasetStore(tmp_path / "ds"), g, tmp_path)
    assert got.num_rows == 0 and "loud" not in got.schema.names  # no result: the schema it was given
    assert {n: s.rows_in for n, s in g.stages.items()} == {"merge": 0, "decontaminate": 0, "shout": 0}


def test_one_registry_names_each_stage_once():
    kinds = stage_kinds()
    assert kinds["finish"] == ("dedup", "semantic_dedup", "decontaminate")  # today's order
    names = [n for part in kinds.values() for n in part]
    assert len(names) == len(set(names)), kinds
    assert tuple(BUILT_IN) == tuple(BUILDERS) == kinds["shard"]


def test_a_stage_of_yours_may_not_take_a_built_in_name():
    from flows.run.finish_stages import SYNC
    from flows.run.user_stages import RESERVED, PythonStage, check_order

    assert set(stage_kinds()["finish"]) | set(BUILT_IN) | {"merge", "target"} == set(RESERVED)
    assert set(SYNC) <= set(stage_kinds()["finish"])
    mine = PythonStage(kind="python", callable="examples.my_filters.no_shouting:NoShouting", name="dedup")
    (problem,) = check_order((mine,), [])
    assert problem == "stages[0]: 'dedup' is a built-in stage's name; give yours another `name:`"
