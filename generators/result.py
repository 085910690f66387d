"""What a stage hands back: kept rows, rejects (with reasons and raw text), and its stats."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from schemas.manifest import StageStats
from schemas.rows import REJECT_SCHEMA, RejectRow, content_id, to_table


@dataclass(frozen=True)
class Reject:
    """A parse or check failure. Never an exception: the row goes to the rejects table."""

    reason: str
    detail: str
    raw_text: str

    def at_turn(self, turn: int) -> Reject:
        return self if turn == 0 else replace(self, detail=f"turn {turn + 1}: {self.detail}")

    def to_row(self, stage: str, seed: int, record: dict[str, Any], lineage: dict[str, Any]) -> RejectRow:
        return RejectRow(
            id=content_id(stage, self.reason, self.raw_text, record, seed, lineage["run_id"]),
            stage=stage,
            reason=self.reason,
            detail=self.detail,
            raw_text=self.raw_text,
            record=json.dumps(record, ensure_ascii=False, sort_keys=True),
            seed=seed,
            **lineage,
        )


@dataclass(frozen=True)
class StageResult:
    rows: pa.Table
    rejects: pa.Table
    stats: StageStats


def rejects_table(rejects: list[RejectRow]) -> pa.Table:
    return to_table(rejects, REJECT_SCHEMA)
