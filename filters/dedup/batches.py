"""Record batches re-cut to a fixed number of rows: the unit that both the dedup stream (stage.py)
and the persisted index (index.py) work in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    return table.combine_chunks().to_batches()[0]


def batches_of(data: pa.Table | Iterable[pa.RecordBatch], n: int) -> Iterator[pa.RecordBatch]:
    """Record batches of `n` rows (the last may be shorter), whatever the input's chunking."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in data.to_batches() if isinstance(data, pa.Table) else data:
        pending.append(batch)
        count += batch.num_rows
        while count >= n:
            table = pa.Table.from_batches(pending)
            yield _one_batch(table.slice(0, n))
            rest = table.slice(n)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield _one_batch(pa.Table.from_batches(pending))
