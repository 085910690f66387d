"""Row ranges of a version, read part by part when a shard runs."""

import pyarrow as pa
import pytest

import flows.store.datasets
from flows.store import DatasetStore
from flows.store.publish import publish_version
from flows.store.ranges import RowRanges
from schemas.manifest import StageStats


@pytest.fixture
def version(tmp_path, monkeypatch):
    monkeypatch.setattr(flows.store.datasets, "ROWS_PER_PART", 4)  # 10 rows -> parts of 4, 4, 2
    rows = pa.table({"id": [f"r{i}" for i in range(10)], "text": [f"text {i} " * 50 for i in range(10)]})
    stats = [StageStats(name="s", rows_in=10, rows_out=10, rejected=0)]
    return publish_version(DatasetStore(tmp_path), "big", rows, [], stats, {}, "r")


def test_ranges_across_part_boundaries_equal_slices_of_the_whole(version):
    rows, whole = RowRanges(version), version.read()
    assert rows.num_rows == 10 and rows.column("id").to_pylist() == whole.column("id").to_pylist()
    for start, n in [(0, 3), (3, 3), (2, 7), (0, 10), (8, 5), (9, 1), (10, 3)]:
        assert rows.read(start, n).equals(whole.slice(start, n)), (start, n)


def test_a_range_is_a_copy_and_one_part_is_kept(version):
    rows = RowRanges(version)
    first = rows.read(0, 1)
    assert first.get_total_buffer_size() < rows._part(0).get_total_buffer_size() / 2  # not a view of the part
    rows.read(5, 1)
    assert rows._last[0] == 1  # the part of the last read, only
