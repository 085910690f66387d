"""What a stage hands back: kept rows, rejects (with reasons and raw text), and its stats."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from schemas.engine import Completion
from schemas.manifest import StageStats
from schemas.rows import REJECT_SCHEMA, SFT_SCHEMA, Message, RejectRow, SftRow, content_id, to_table


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


def leaked_token(text: str, special: Sequence[str]) -> str | None:
    """The first control token (e.g. '<|im_start|>') found inside generated text, if any."""
    return next((t for t in special if t and t in text), None)


def check_generated(text: str, c: Completion, kind: str, max_tokens: int, special: tuple[str, ...]) -> str | Reject:
    """The checks every generated turn gets: runaway (hit max_tokens), empty, control-token leak.
    `text` is the cleaned output; reasons are `<kind>_truncated|_empty|_template_leak`."""
    if c.truncated:
        return Reject(f"{kind}_truncated", f"hit max_tokens={max_tokens}", c.text)
    if not text:
        return Reject(f"{kind}_empty", "the model wrote nothing", c.text)
    if leaked := leaked_token(text, special):
        return Reject(f"{kind}_template_leak", f"contains control token {leaked!r}", c.text)
    return text


@dataclass(kw_only=True)
class Attempt:
    """What every multi-step generation tracks per conversation: its reject (if any) and the tokens
    its engine calls used. Generators subclass it with their own inputs (seed, persona, ...)."""

    reject: Reject | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add_usage(self, c: Completion) -> None:
        self.prompt_tokens += c.prompt_tokens
        self.completion_tokens += c.completion_tokens


@dataclass(frozen=True)
class StageResult:
    rows: pa.Table
    rejects: pa.Table
    stats: StageStats
    extra: dict[str, pa.Table] = field(default_factory=dict)  # further outputs, e.g. the augmented corpus

    def named(self, name: str) -> StageResult:
        """This result under the stage name the pipeline gave (stats and every reject's `stage`)."""
        if self.stats.name == name:
            return self
        stage = pa.array([name] * self.rejects.num_rows, pa.string())
        rejects = self.rejects.set_column(self.rejects.schema.get_field_index("stage"), "stage", stage)
        return replace(self, rejects=rejects, stats=self.stats.model_copy(update={"name": name}))

    def tables(self) -> dict[str, pa.Table]:
        """What a checkpoint stores: rows, rejects and any extra outputs, by name."""
        return {"rows": self.rows, "rejects": self.rejects, **self.extra}


def rejects_table(rejects: list[RejectRow]) -> pa.Table:
    return to_table(rejects, REJECT_SCHEMA)


class SftCollector:
    """Turns finished conversations into SFT rows (content-hash ids; a repeat of an earlier row
    becomes a `duplicate_conversation` reject) and failed ones into rejects, then one StageResult."""

    def __init__(self, stage: str):
        self.stage = stage
        self.rows: dict[str, SftRow] = {}
        self.rejects: list[RejectRow] = []

    def add(
        self,
        messages: list[dict[str, str]],
        reject: Reject | None,
        seed: int,
        lineage: dict[str, Any],
        usage: tuple[int, int],
        record: dict[str, Any] | None = None,
    ) -> None:
        row_id = content_id(messages)
        if reject is None and row_id in self.rows:
            reject = Reject("duplicate_conversation", f"same content as row {row_id}", "")
        if reject is not None:
            self.rejects.append(reject.to_row(self.stage, seed, {"messages": messages, **(record or {})}, lineage))
            return
        first = {m["role"]: m["content"] for m in reversed(messages) if m["role"] in ("user", "assistant")}
        self.rows[row_id] = SftRow(
            id=row_id,
            messages=[Message(**m) for m in messages],
            instruction=first["user"],
            response=first["assistant"],
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
            seed=seed,
            **lineage,
        )

    def result(self, rows_in: int, prompt_tokens: int, completion_tokens: int, seconds: float) -> StageResult:
        stats = StageStats(
            name=self.stage,
            rows_in=rows_in,
            rows_out=len(self.rows),
            rejected=len(self.rejects),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=round(seconds, 3),
        )
        return StageResult(to_table(self.rows.values(), SFT_SCHEMA), rejects_table(self.rejects), stats)
