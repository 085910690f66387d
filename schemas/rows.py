"""Row contracts: pydantic models, and the pyarrow schemas derived from them.

Every row carries its lineage (where it came from, which model, template and sampling made it,
in which run) so a published dataset can be audited row by row without synthloom.
"""

from __future__ import annotations

import hashlib
import json
import typing
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    role: str
    content: str


class Lineage(BaseModel):
    """Fields every generated row and every reject carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source_kind: str
    generator: str
    generator_version: str
    model_id: str
    template_name: str
    template_hash: str
    sampling: str  # JSON of the sampling parameters used
    seed: int
    run_id: str
    parent_ids: list[str]
    created_at: datetime


class SftRow(Lineage):
    """One instruction-tuning conversation."""

    id: str
    messages: list[Message]
    instruction: str  # first user turn, for quick queries
    response: str  # first assistant turn
    prompt_tokens: int
    completion_tokens: int


class RejectRow(Lineage):
    """A row a stage dropped, with why, and the raw text it dropped."""

    id: str
    stage: str
    reason: str
    detail: str
    raw_text: str
    record: str  # JSON of the partial row at the time of rejection


class DpoRow(Lineage):
    """A preference pair for DPO-style training (prompt, chosen, rejected)."""

    id: str
    prompt: str
    chosen: str
    rejected: str
    judge_model: str
    judge_raw: str  # the judge's raw verdicts, order A,B then B,A


_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: pa.timestamp("us", tz="UTC"),
}


def _arrow_type(annotation: Any) -> pa.DataType:
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return pa.list_(_arrow_type(item))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct([arrow_field(n, f.annotation) for n, f in annotation.model_fields.items()])
    raise TypeError(f"no arrow type for {annotation!r}")


def arrow_field(name: str, annotation: Any) -> pa.Field:
    return pa.field(name, _arrow_type(annotation), nullable=False)


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """The pyarrow schema of a row model; `id` first, then the model's own fields, lineage last."""
    fields = model.model_fields
    own = [n for n in fields if n not in Lineage.model_fields or n == "id"]
    ordered = ["id"] + [n for n in own if n != "id"] + [n for n in Lineage.model_fields]
    return pa.schema([arrow_field(n, fields[n].annotation) for n in ordered if n in fields])


SFT_SCHEMA = arrow_schema(SftRow)
REJECT_SCHEMA = arrow_schema(RejectRow)
DPO_SCHEMA = arrow_schema(DpoRow)


def to_table(rows: Iterable[BaseModel], schema: pa.Schema) -> pa.Table:
    records = [r.model_dump() for r in rows]
    return pa.Table.from_pylist(records, schema=schema)


def content_id(*parts: Any) -> str:
    """Stable 32-hex id from content (JSON-encoded, key-sorted)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def utc_now() -> datetime:
    return datetime.now(UTC)
