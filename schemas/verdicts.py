"""Parsing a model's JSON answer against a pydantic schema: the shared, pure step of every LLM stage
that asks for structured output (the judge, question/answer synthesis, persona inference). A bad answer
is a Reject with its reason and the raw text, never an exception."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from schemas.engine import Completion
from schemas.result import Reject


def parse_verdict(c: Completion, model: type[BaseModel]) -> BaseModel | Reject:
    """Validate judge output against the verdict schema. Pure; never raises."""
    if c.truncated:
        return Reject("judge_truncated", "verdict hit max_tokens before the JSON closed", c.text)
    try:
        data = json.loads(c.text)
    except json.JSONDecodeError as err:
        return Reject("judge_invalid_json", f"not JSON: {err.msg} at char {err.pos}", c.text)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        return Reject("judge_schema_mismatch", f"{where}: {first['msg']}", c.text)
