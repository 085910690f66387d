"""Imported rows as Arrow: our columns (the SFT schema, lineage, `source_file`, `source_row`) plus
the file's own other columns, kept as they are. A column whose values have no one Arrow type (an
int here, a string there) is kept as JSON text; a column named like one of ours is kept as
`orig_NAME`. Batches go to spill files on disk; when batches differ in their extra columns, the
published table has the union of them (a row without a column has null there)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows.store.spill import Spill
from schemas.rows import SFT_SCHEMA

SOURCE_FIELDS = [pa.field("source_file", pa.string(), nullable=False), pa.field("source_row", pa.int64(), False)]
BASE_SCHEMA = pa.schema([*SFT_SCHEMA, *SOURCE_FIELDS])
OURS = set(BASE_SCHEMA.names)


def extra_array(values: list[Any]) -> pa.Array:
    """The values as one Arrow array, or as JSON text when they have no common type."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return json_text(values)


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    extras = [r.pop("__extras") for r in rows]
    base = pa.Table.from_pylist(rows, schema=BASE_SCHEMA)
    names = list(dict.fromkeys(k for e in extras for k in e))
    for name in names:
        column = extra_array([e.get(name) for e in extras])
        if pa.types.is_null(column.type):
            column = column.cast(pa.string())
        base = base.append_column(f"orig_{name}" if name in OURS else name, column)
    return base


class RowSpills:
    """Row batches on disk, one spill per distinct schema (see the module docstring)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.spills: list[Spill] = []
        self.num_rows = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        table = to_table(rows)
        if not self.spills or not self.spills[-1].schema.equals(table.schema):
            self.spills.append(Spill(self.folder / f"rows-{len(self.spills)}.arrow", table.schema))
        self.spills[-1].write(table)
        self.num_rows += table.num_rows

    def concat(self) -> Merged:
        return Merged(self.spills, unified(self.spills))


def unified(spills: list[Spill]) -> pa.Schema:
    """Our columns first, then every extra column once, typed by the first spill that has it; a
    column typed differently elsewhere becomes JSON text."""
    fields: dict[str, pa.Field] = {f.name: f for f in BASE_SCHEMA}
    for spill in spills:
        for f in spill.schema:
            if f.name not in fields:
                fields[f.name] = f
            elif fields[f.name].type != f.type and f.name not in OURS:
                fields[f.name] = pa.field(f.name, pa.string())
    return pa.schema(list(fields.values()))


class Merged:
    """The spills read as one table with the unified schema (what `publish_version` takes)."""

    def __init__(self, spills: list[Spill], schema: pa.Schema):
        self.spills, self.schema = spills, schema
        self.num_rows = sum(s.num_rows for s in spills)

    def to_batches(self) -> Iterator[pa.RecordBatch]:
        for spill in self.spills:
            for batch in spill.to_batches():
                yield from _conform(batch, self.schema).to_batches()


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    columns = []
    for f in schema:
        if f.name not in batch.schema.names:
            columns.append(pa.nulls(batch.num_rows, f.type))
            continue
        col = batch.column(f.name)
        if col.type == f.type:
            columns.append(col)
        elif pa.types.is_string(f.type):
            columns.append(json_text(col.to_pylist()))
        else:
            columns.append(col.cast(f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def json_text(values: list[Any]) -> pa.Array:
    """The values as JSON text (nulls stay null): how a column with no one Arrow type is kept."""
    return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in values])
