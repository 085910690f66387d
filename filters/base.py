"""The filter contract: a filter takes an Arrow table of rows and returns the kept rows, a rejects
table (REJECT_SCHEMA: stage, reason, detail, raw text, the whole row as JSON, its lineage) and stats.

    result = SomeFilter(...)(table)        # -> schemas.result.StageResult
    result.rows, result.rejects, result.stats

`split_rows` is the one place that turns per-row verdicts into that result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from schemas.manifest import StageStats
from schemas.result import StageResult
from schemas.rows import REJECT_SCHEMA, Lineage, content_id, utc_now

_LINEAGE_DEFAULTS: dict[str, Any] = {
    "source_kind": "",
    "generator": "",
    "generator_version": "",
    "model_id": "",
    "template_name": "",
    "template_hash": "",
    "sampling": "",
    "seed": 0,
    "run_id": "",
    "parent_ids": [],
}


def _reject_record(row: dict[str, Any], stage: str, reason: str, detail: str, raw_text: str) -> dict[str, Any]:
    lineage = {k: row.get(k, d) if row.get(k) is not None else d for k, d in _LINEAGE_DEFAULTS.items()}
    lineage["created_at"] = row.get("created_at") or utc_now()
    return {
        "id": content_id(stage, reason, row.get("id", ""), raw_text),
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "raw_text": raw_text,
        "record": json.dumps(row, ensure_ascii=False, sort_keys=True, default=str),
        **lineage,
    }


REJECT_BATCH = 10_000  # rejected rows turned into records at a time: Python objects stay bounded
FEW_REJECTS = 256  # up to this many rejected rows, the kept rows are zero-copy slices of the input


def _kept(table: pa.Table, rejected_idx: list[int], verdicts: Sequence[tuple[str, str] | None]) -> pa.Table:
    """The kept rows without copying them when few rows go (a filter copies every buffer: 0.5-1 GiB
    at a million rows, to drop 19 of them); a filter when many go (slices would fragment the table)."""
    if not rejected_idx:
        return table
    if len(rejected_idx) > FEW_REJECTS:
        return table.filter(pa.array([v is None for v in verdicts], pa.bool_()))
    parts, start = [], 0
    for i in [*rejected_idx, table.num_rows]:
        if i > start:
            parts.append(table.slice(start, i - start))
        start = i + 1
    return pa.concat_tables(parts) if parts else table.slice(0, 0)


def _reject_part(
    table: pa.Table,
    stage: str,
    idx: list[int],
    verdicts: Sequence[tuple[str, str] | None],
    raw_column: str | None,
) -> pa.Table:
    records = []
    for i, row in zip(idx, table.take(pa.array(idx, pa.int64())).to_pylist(), strict=True):
        reason, detail = verdicts[i]  # type: ignore[misc]
        raw = str(row.get(raw_column, "")) if raw_column else ""
        records.append(_reject_record(row, stage, reason, detail, raw))
    return pa.Table.from_pylist(records, schema=REJECT_SCHEMA)


def split_rows(
    table: pa.Table,
    stage: str,
    verdicts: Sequence[tuple[str, str] | None],
    raw_column: str | None = "response",
    started: float | None = None,
) -> StageResult:
    """verdicts[i] is None to keep row i, or (reason, detail) to reject it."""
    if len(verdicts) != table.num_rows:
        raise ValueError(f"{stage}: {len(verdicts)} verdicts for {table.num_rows} rows")
    rejected_idx = [i for i, v in enumerate(verdicts) if v is not None]
    kept = _kept(table, rejected_idx, verdicts)
    parts = [
        _reject_part(table, stage, rejected_idx[i : i + REJECT_BATCH], verdicts, raw_column)
        for i in range(0, len(rejected_idx), REJECT_BATCH)
    ]
    rejects = pa.concat_tables(parts) if parts else REJECT_SCHEMA.empty_table()
    stats = StageStats(
        name=stage,
        rows_in=table.num_rows,
        rows_out=kept.num_rows,
        rejected=len(rejected_idx),
        seconds=round(time.perf_counter() - started, 3) if started is not None else 0.0,
    )
    return StageResult(kept, rejects, stats)


assert set(_LINEAGE_DEFAULTS) | {"created_at"} == set(Lineage.model_fields)
