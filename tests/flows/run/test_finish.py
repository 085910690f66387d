"""The finish streamed: shards' checkpoint files read one at a time, merge -> dedup -> decontaminate
batch by batch into a spill, rejects spilled, every stage in the stats even with nothing to do."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from filters.decontaminate import DecontamConfig
from filters.dedup import DedupConfig
from flows.run.finish import Gathered, filter_all
from flows.store import DatasetStore
from flows.store.publish import publish_result
from flows.store.spill import Spill
from flows.store.tempdirs import host_tag, scratch_dir
from schemas.rows import REJECT_SCHEMA, SFT_SCHEMA
from tests.flows.helpers import stage_result

TEXTS = [
    "How do I sort a list of strings in Python by their length, keeping ties stable?",
    "Write a haiku about the first frost on a vegetable garden.",
    "What causes the seasons on Earth, and why is it not the distance to the Sun?",
    "Explain compound interest to a twelve-year-old with one worked example.",
    "Draft a polite email asking a landlord to repair a leaking kitchen tap.",
    "Compare TCP and UDP for a multiplayer game's position updates.",
    "Give three tips for keeping sourdough starter alive while travelling.",
    "Prove that the square root of two is irrational.",
]


def shard(texts: list[str], path, drop: str | None = None):
    table = stage_result(texts, rejected=0).rows
    pq.write_table(table.drop_columns([drop]) if drop else table, path)
    return path


def cfg(tmp_path, **over):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"id": "q1", "question": TEXTS[7]}) + "\n")
    fields = {"dataset": "d", "dedup": DedupConfig(batch_rows=2), "semantic_dedup": None, "dedup_against": ()}
    fields["decontaminate"] = DecontamConfig(sources=(bench,))
    return SimpleNamespace(cfg=SimpleNamespace(**{**fields, **over}))


def test_shard_files_stream_through_merge_dedup_and_decontamination(tmp_path):
    files = [
        shard(TEXTS[:3], tmp_path / "a.parquet"),
        shard([], tmp_path / "empty.parquet"),
        shard([TEXTS[1], *TEXTS[3:6]], tmp_path / "b.parquet", drop="prompt_tokens"),  # TEXTS[1] again: same id
        shard([TEXTS[6], TEXTS[0].upper(), TEXTS[7]], tmp_path / "c.parquet"),  # upper case: an exact duplicate
    ]
    g = Gathered(rows=list(files), spill=Spill(tmp_path / "rejects.arrow", REJECT_SCHEMA))
    rows = filter_all(cfg(tmp_path), DatasetStore(tmp_path / "ds"), g, tmp_path)
    assert isinstance(rows, Spill) and not g.rows  # the list lets go of the sources
    table = rows.read()
    assert table.column("instruction").to_pylist() == TEXTS[:7]
    assert table.column("prompt_tokens").null_count == 3  # b's rows lack the column: nulls, not a failure
    assert table.schema.field("messages").type == SFT_SCHEMA.field("messages").type
    assert list(g.stages) == ["merge", "dedup", "decontaminate"]
    counts = {n: (s.rows_in, s.rows_out, s.rejected) for n, s in g.stages.items()}
    assert counts == {"merge": (10, 9, 1), "dedup": (9, 8, 1), "decontaminate": (8, 7, 1)}
    rejects = pa.concat_tables(r.read() if isinstance(r, Spill) else r for r in g.all_rejects())
    assert sorted(rejects.column("reason").to_pylist()) == [
        "benchmark_contamination",
        "duplicate_conversation",
        "exact_duplicate",
    ]
    assert pc.sum(pc.equal(rejects.column("stage"), "merge")).as_py() == 1


def test_nothing_to_finish_still_records_every_stage(tmp_path):
    g = Gathered(rows=[shard([], tmp_path / "empty.parquet")])
    rows = filter_all(cfg(tmp_path), DatasetStore(tmp_path / "ds"), g, tmp_path)
    assert rows.num_rows == 0 and rows.read().num_rows == 0
    assert {n: s.rows_in for n, s in g.stages.items()} == {"merge": 0, "dedup": 0, "decontaminate": 0}
    assert g.all_rejects()[0].num_rows == 0  # nothing rejected: one empty table to publish


def test_tables_in_memory_work_as_sources_too(tmp_path):
    g = Gathered(rows=[stage_result(TEXTS[:2], rejected=0).rows, stage_result(TEXTS[:1], rejected=0).rows])
    rows = filter_all(cfg(tmp_path, dedup=None), DatasetStore(tmp_path / "ds"), g, tmp_path).read()
    assert rows.num_rows == 2 and list(g.stages) == ["merge", "decontaminate"]
    assert g.rejects[0].column("reason").to_pylist() == ["duplicate_conversation"]


def test_a_killed_finish_leaves_a_scratch_dir_the_next_publish_removes(tmp_path):
    store = DatasetStore(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    killed = tmp_path / "d" / f".tmp-{host_tag()}-{dead.pid}-0123456789abcdef"  # as scratch_dir names them
    killed.mkdir(parents=True)
    (killed / "rows.arrow").write_bytes(b"half a spill")
    with scratch_dir(tmp_path / "d") as live:  # a finish still at work in this process
        v = publish_result(store, "d", stage_result(TEXTS[:1]), {}, "r")
        assert live.is_dir() and not killed.exists() and v.number == 1
    assert not live.exists()
