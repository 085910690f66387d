"""Row ranges of a published version's table, read when needed: a one-off over a million-row version
(`synthloom score|filter|dedup REF`) plans its shards from the `id` column alone and reads each
shard's rows when the shard runs, instead of holding the version in memory for the whole run."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from flows.store.datasets import Version


class RowRanges:
    """Rows [start, start + n) of `version`'s table, read part file by part file. The last part read
    is kept (a version's parts are 100k rows and shards are usually smaller, so consecutive shards
    decode it once); a range is returned as its own copy, so a running shard holds no whole part."""

    def __init__(self, version: Version, table: str = "rows"):
        self.files = version.files(table)
        self.schema = pq.read_schema(self.files[0]) if self.files else pa.schema([])
        counts = [pq.ParquetFile(f).metadata.num_rows for f in self.files]
        self.starts = np.cumsum([0, *counts])
        self.num_rows = int(self.starts[-1])
        self._lock = threading.Lock()
        self._last: tuple[int, pa.Table] | None = None

    def column(self, name: str) -> pa.ChunkedArray:
        """One column of every row (e.g. the ids that key the shards), without the others."""
        if not self.files:
            return pa.chunked_array([], self.schema.field(name).type)
        return pq.read_table(self.files, columns=[name]).column(name)

    def read(self, start: int, n: int) -> pa.Table:
        pieces = []
        for i, (lo, hi) in enumerate(zip(self.starts[:-1].tolist(), self.starts[1:].tolist(), strict=True)):
            if hi <= start or lo >= start + n:
                continue
            first, last = max(start, lo) - lo, min(start + n, hi) - lo
            pieces.append(self._part(i).take(pa.array(np.arange(first, last))))  # take: a copy
        return pa.concat_tables(pieces) if pieces else self.schema.empty_table()

    def _part(self, i: int) -> pa.Table:
        with self._lock:  # shard workers are threads: one reads a part, the others wait for it
            if self._last is None or self._last[0] != i:
                self._last = None  # let go of the old part before reading the next
                self._last = (i, pq.read_table(self.files[i]))
            return self._last[1]
