"""Spills: the finish's rows on disk, read back a batch at a time; and a version written from one
in parts of ROWS_PER_PART rows, the same as from the table in memory."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flows.store.datasets
from flows.store import DatasetStore
from flows.store.publish import publish_version
from flows.store.spill import Concat, Spill, conform
from schemas.manifest import StageStats
from schemas.rows import REJECT_SCHEMA

SCHEMA = pa.schema([("id", pa.string()), ("n", pa.int64()), ("note", pa.string())])


def rows(first: int, n: int) -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in range(first, first + n)], "n": list(range(first, first + n))})


def test_batches_come_back_in_order_with_missing_columns_as_nulls(tmp_path):
    spill = Spill(tmp_path / "rows.arrow", SCHEMA)
    for first, n in ((0, 3), (3, 0), (3, 3), (6, 3)):  # an empty write adds nothing
        spill.write(rows(first, n))
    table = spill.close().read()
    assert spill.num_rows == table.num_rows == 9
    assert table.column("n").to_pylist() == list(range(9))
    assert table.column("note").null_count == 9 and table.schema == SCHEMA
    with pytest.raises(ValueError, match="closed"):
        spill.write(rows(0, 1))


def test_conform_casts_and_orders_columns():
    t = pa.table({"n": pa.array([1], pa.int32()), "id": ["a"]})
    assert conform(t, SCHEMA).to_pylist() == [{"id": "a", "n": 1, "note": None}]
    assert conform(t, SCHEMA).schema == SCHEMA


def test_a_version_is_written_from_a_spill_in_parts_with_exact_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(flows.store.datasets, "ROWS_PER_PART", 4)
    spill = Spill(tmp_path / "rows.arrow", SCHEMA)
    for first, n in ((0, 3), (3, 6), (9, 1)):  # batches straddle part boundaries; 10 rows -> 4 + 4 + 2
        spill.write(rows(first, n))
    rejects = Spill(tmp_path / "rejects.arrow", REJECT_SCHEMA).close()
    stats = [StageStats(name="s", rows_in=10, rows_out=10, rejected=0)]
    v = publish_version(DatasetStore(tmp_path / "ds"), "spilled", spill, [rejects], stats, {}, "r")
    parts = v.files("rows")
    assert [pq.ParquetFile(p).metadata.num_rows for p in parts] == [4, 4, 2]
    assert all(pq.ParquetFile(p).metadata.num_row_groups == 1 for p in parts)  # one row group per part
    assert v.read().column("n").to_pylist() == list(range(10))
    assert [b.num_rows for b in v.batches()] == [4, 4, 2]
    m = v.manifest()
    assert (m.rows, m.rejects, len(v.files("rejects"))) == (10, 0, 1)  # no rejects: one empty part


def test_rejects_of_tables_and_spills_are_published_as_one(tmp_path):
    from tests.flows.helpers import stage_result

    held = stage_result(["", "ok?"]).rejects
    spilled = Spill(tmp_path / "rejects.arrow", REJECT_SCHEMA)
    spilled.write(held)
    both = Concat([held, spilled], REJECT_SCHEMA)
    assert both.num_rows == 2 and pa.Table.from_batches(list(both.to_batches())).num_rows == 2
