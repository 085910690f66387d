"""Asking the model for one persona per input, the step text-to-persona and expansion share.

The model answers JSON constrained to {"persona": str} (with a maximum length), checked by
`schemas.verdicts.parse_verdict` and `parse_persona`; anything else is a reject with its reason and
raw text. Every live attempt of a step goes in one batched chat call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from generators.personas.common import (
    GENERATOR_VERSION,
    PERSONA_SCHEMA,
    REFUSAL,
    PersonaRow,
    PersonasConfig,
    clean_text,
    persona_ids,
    sampling_json,
)
from schemas.engine import Completion, Engine
from schemas.manifest import StageStats
from schemas.result import Reject, StageResult, leaked_token, rejects_table
from schemas.rows import RejectRow, to_table
from schemas.stage import lineage
from schemas.templates import PromptTemplate
from schemas.verdicts import parse_verdict

_SENTENCE_END = re.compile(r"[.!?]+(?=\s+[\"'(A-Z0-9]|\s*$)")


@lru_cache(maxsize=16)
def persona_model(max_chars: int) -> type[BaseModel]:
    """The pydantic schema of the model's answer: {"persona": str}, at most `max_chars` characters."""
    return create_model(
        "Persona",
        __config__=ConfigDict(extra="forbid", title="Persona"),
        persona=(str, Field(min_length=1, max_length=max_chars)),
    )


def parse_persona(c: Completion, special: tuple[str, ...], cfg: PersonasConfig) -> str | Reject:
    """A persona from constrained JSON, or why not. Pure; never raises."""
    verdict = parse_verdict(c, persona_model(cfg.max_persona_chars))
    if isinstance(verdict, Reject):
        return Reject(verdict.reason.replace("judge_", "persona_", 1), verdict.detail, verdict.raw_text)
    text = clean_text(verdict.persona)  # type: ignore[attr-defined]
    if not text:
        return Reject("persona_empty", "the persona is blank", c.text)
    if leaked := leaked_token(text, special):
        return Reject("persona_template_leak", f"contains control token {leaked!r}", c.text)
    if REFUSAL.match(text):
        return Reject("persona_refusal", "the model declined instead of describing a person", c.text)
    words = len(text.split())
    if words < cfg.min_persona_words:
        return Reject("persona_too_short", f"{words} words < {cfg.min_persona_words}", c.text)
    sentences = len(_SENTENCE_END.findall(text)) or 1
    if sentences > cfg.max_sentences:
        return Reject("persona_too_many_sentences", f"{sentences} sentences > {cfg.max_sentences}", c.text)
    return text


@dataclass
class PersonaAttempt:
    """One persona asked of the model (or rejected before asking)."""

    parent_id: str
    seed: int
    messages: list[dict[str, str]]
    record: dict[str, Any]
    reject: Reject | None = None
    completion: Completion | None = None


@dataclass(frozen=True)
class PersonaStep:
    stage: str
    origin: str
    source_kind: str
    template: PromptTemplate


def _usage(outs: Sequence[Completion]) -> dict[str, int]:
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in outs),
        "completion_tokens": sum(c.completion_tokens for c in outs),
    }


def _ask_personas(attempts: list[PersonaAttempt], cfg: PersonasConfig, engine: Engine) -> list[str]:
    """One batched chat call for every live attempt; returns each attempt's persona ('' when rejected)."""
    live = [a for a in attempts if a.reject is None]
    params = [cfg.sampling.model_copy(update={"seed": a.seed}) for a in live]
    schema = persona_model(cfg.max_persona_chars).model_json_schema()
    outs = engine.chat([a.messages for a in live], params, json_schema=schema) if live else []
    special = engine.special_tokens()
    for a, c in zip(live, outs, strict=True):
        a.completion = c
        parsed = parse_persona(c, special, cfg)
        if isinstance(parsed, Reject):
            a.reject = parsed
        else:
            a.record["persona"] = parsed
    return [a.record.get("persona", "") if a.reject is None else "" for a in attempts]


def persona_result(
    step: PersonaStep,
    attempts: list[PersonaAttempt],
    cfg: PersonasConfig,
    engine: Engine,
    run_id: str,
    started: float,
) -> StageResult:
    """Ask for every attempt's persona; the new personas (one per normalized text) and every reject."""
    texts = _ask_personas(attempts, cfg, engine)
    ids = persona_ids(texts)
    base = lineage(
        source_kind=step.source_kind,
        generator=f"personas/{step.origin}",
        generator_version=GENERATOR_VERSION,
        model_id=engine.model_id,
        template_name=step.template.name,
        template_hash=step.template.hash,
        sampling=sampling_json(persona=cfg.sampling),
        run_id=run_id,
    )
    rows: dict[str, PersonaRow] = {}
    rejects: list[RejectRow] = []
    for a, text, pid in zip(attempts, texts, ids, strict=True):
        row_lineage = {**base, "parent_ids": [a.parent_id]}
        if a.reject is None and step.origin == "expanded" and pid == a.parent_id:
            a.reject = Reject("persona_same_as_parent", "the new persona repeats its parent", a.completion.text)
        if a.reject is None and pid in rows:
            a.reject = Reject("duplicate_persona", f"same normalized text as persona {pid}", a.completion.text)
        if a.reject is None:
            rows[pid] = PersonaRow(id=pid, persona=text, origin=step.origin, seed=a.seed, **row_lineage)
        else:
            rejects.append(a.reject.to_row(step.stage, a.seed, a.record, row_lineage))
    outs = [a.completion for a in attempts if a.completion is not None]
    stats = StageStats(
        name=step.stage,
        rows_in=len(attempts),
        rows_out=len(rows),
        rejected=len(rejects),
        seconds=round(time.perf_counter() - started, 3),
        **_usage(outs),
    )
    return StageResult(to_table(rows.values(), PERSONA_SCHEMA), rejects_table(rejects), stats)
