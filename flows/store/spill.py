"""Rows on disk between the finish's stages and the publish: record batches appended to an Arrow IPC
stream file and read back one batch at a time, so a million-row version is never held whole in memory.

A `Spill` reads like a `pa.Table` where the publish needs it (`schema`, `num_rows`, `to_batches()`);
`read()` loads it whole (for tests and small data). Batches with fewer or differently typed columns
than the spill's schema are conformed to it (missing columns become nulls), as `pa.concat_tables`
with `promote_options="default"` would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa


def conform(data: pa.Table | pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    """`data` with exactly `schema`'s columns, in its order (a missing one is all null)."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
    if table.schema.equals(schema):
        return table
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


class Spill:
    """An append-only file of record batches with one schema (see the module docstring)."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = path
        self.schema = schema
        self.num_rows = 0
        self._writer: pa.ipc.RecordBatchStreamWriter | None = pa.ipc.new_stream(str(path), schema)

    def write(self, data: pa.Table | pa.RecordBatch) -> None:
        if self._writer is None:
            raise ValueError(f"spill {self.path} is closed: it can be read, not written")
        if data.num_rows:
            self._writer.write_table(conform(data, self.schema))
            self.num_rows += data.num_rows

    def close(self) -> Spill:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self

    def to_batches(self) -> Iterator[pa.RecordBatch]:
        """The batches in the order written (closes the spill for writing first)."""
        self.close()
        with pa.OSFile(str(self.path)) as source:  # read, not memory-mapped: a batch's pages go once it does
            yield from pa.ipc.open_stream(source)

    def read(self) -> pa.Table:
        return pa.Table.from_batches(list(self.to_batches()), schema=self.schema)


class Concat:
    """Tables and spills read one after another as one, each batch conformed to `schema`."""

    def __init__(self, parts: list[pa.Table | Spill], schema: pa.Schema):
        self.parts = parts
        self.schema = schema
        self.num_rows = sum(p.num_rows for p in parts)

    def to_batches(self) -> Iterator[pa.RecordBatch]:
        for part in self.parts:
            for batch in part.to_batches():
                yield from conform(batch, self.schema).to_batches()
