"""The Ray Data dedup (filters/dedup/distributed.py) on a local Ray instance. Model-free but ~2 min of
Ray start-up and CPU: `make test` runs it in the second pytest session, beside the engine tests."""

from __future__ import annotations

import re

import pytest

from filters.dedup import Dedup, DedupConfig
from tests.filters.test_dedup import edits, plain, rejects


def test_ray_data_version_keeps_the_same_rows_as_one_batch():
    ray = pytest.importorskip("ray")
    from filters.dedup.distributed import dedup_ray, to_table, with_ranks

    texts = edits(40, seed=4)
    texts += [texts[3], texts[45].upper(), "", "?!"]
    table = plain(texts)
    one = Dedup()(table)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        tables = with_ranks([table.slice(0, 30), table.slice(30)])
        kept, dropped = dedup_ray(ray.data.from_arrow(tables), DedupConfig(), partitions=2)
        kept_ids = sorted(to_table(kept).column("id").to_pylist(), key=lambda r: int(r[1:]))
        dropped = to_table(dropped).sort_by("rank")
    finally:
        ray.shutdown()
    assert kept_ids == one.rows["id"].to_pylist()
    expected = rejects(one)
    assert dropped.column("id").to_pylist() == list(expected)
    assert dropped.column("reason").to_pylist() == [reason for reason, _ in expected.values()]
    kept_of = [re.search(r"kept=r(\d+)", detail).group(1) for _, detail in expected.values()]
    assert [str(k) for k in dropped.column("kept_rank").to_pylist()] == kept_of
