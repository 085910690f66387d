"""Persona Hub style personas (arXiv 2406.20094) and persona-driven SFT data.

Personas are a dataset of their own (`PERSONA_SCHEMA`: id, persona, origin, lineage), from three sources:

- seed: a hand-written JSONL list, one {"persona": "..."} per line (`SEED_PERSONAS` ships ~200);
- from_text: for each text chunk, "who is likely to read, write or care about this text?" (`PersonasFromText`);
- expanded: people related to a persona, one per relation: colleague, client, mentor... (`ExpandPersonas`).

The model answers JSON constrained to {"persona": str} (with a maximum length), checked by
`schemas.verdicts.parse_verdict`; anything else is a reject with its reason and raw text.

Dedup (filters/dedup/personas.PersonaDedup, handed in by the caller) uses Persona Hub's settings
(`schemas.dedup_config.PERSONA_DEDUP`): word 1-gram MinHash with 128 permutations, LSH 16 bands x 8
rows (candidates from a unigram Jaccard of about 0.7 up; 0.9 is a candidate with probability >
0.999), each candidate verified with rapidfuzz token_sort_ratio >= 0.9. Persona Hub thresholds the
MinHash estimate itself at 0.9; the shared machinery verifies with rapidfuzz instead, which on one-
or two-sentence texts is at least as strict.
`Personas` runs the whole build: seeds + from_text, expansion of both, then dedup (earliest kept).

Persona x task (`PersonaTasks`): each task template is a Jinja file that gets `persona` (and `index`,
the sample number for that persona and template). SFT mapping, the same for every template: what
the model writes for the template becomes the user instruction, and a second chat call, which does
not see the persona, answers it; that answer is the response. `persona_user_prompt` gives a request
the persona would send, `persona_math_problem` a hard problem (no solution; the response solves it),
and `persona_article` a request "Write an article on ... for ..." whose response is the article.
A user adds a task by giving a path to a .jinja file, or a name found in `template_dirs`. Each row
has the persona id in parent_ids and the template's name and hash in its lineage.

Engine calls are batched: one chat call per step for the whole input.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import jinja2
import jinja2.meta
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from schemas.config import Frozen, SamplingConfig
from schemas.dedup_config import PERSONA_DEDUP, DedupConfig
from schemas.engine import NO_ENGINE, Completion, Engine
from schemas.errors import ConfigError
from schemas.manifest import StageStats
from schemas.result import Attempt, Reject, SftCollector, StageResult, check_generated, leaked_token, rejects_table
from schemas.rows import (
    REJECT_SCHEMA,
    Lineage,
    RejectRow,
    arrow_schema,
    content_id,
    text_hash,
    to_table,
)
from schemas.stage import StageContext, derive_seed, lineage, system_turn
from schemas.templates import PromptTemplate, load_template
from schemas.text import normalize
from schemas.verdicts import parse_verdict

GENERATOR_VERSION = "1"
SEED_PERSONAS = Path(__file__).resolve().parents[1] / "data" / "seeds" / "personas.jsonl"
ORIGINS = ("seed", "from_text", "expanded")
TASK_TEMPLATES = ("persona_user_prompt", "persona_math_problem", "persona_article")
RELATIONS = (
    "colleague",
    "family member",
    "client or customer",
    "mentor",
    "student or apprentice",
    "neighbour",
    "close friend",
    "rival or competitor",
)

_REFUSAL = re.compile(r"^(i'?m sorry|i am sorry|i cannot|i can'?t|i'?m unable|as an ai)\b", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(sure|certainly|of course|okay|here(?:'s| is| are))\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s+[\"'(A-Z0-9]|\s*$)")
_QUOTES = "\"'“”‘’«»"


# ---------------------------------------------------------------- rows


class PersonaRow(Lineage):
    """One persona: id is the content hash of its normalized text; parent_ids name the source chunk
    (from_text) or the parent persona (expanded); seeds have none."""

    id: str
    persona: str
    origin: str  # one of ORIGINS

    @field_validator("origin")
    @classmethod
    def _known_origin(cls, value: str) -> str:
        if value not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, got {value!r}")
        return value


PERSONA_SCHEMA = arrow_schema(PersonaRow)


def unquote(text: str) -> str:
    """`text` stripped, without one pair of wrapping quotes (small models like to quote what they write)."""
    text = text.strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def clean_text(text: str) -> str:
    """Whitespace collapsed to single spaces, wrapping quotes removed."""
    return unquote(" ".join(text.split()))


def persona_ids(texts: Sequence[str]) -> list[str]:
    """Content ids of personas: the hash of the text as dedup normalizes it (case, punctuation, spacing)."""
    if not texts:
        return []
    norm = normalize(pa.array(list(texts), pa.string())).to_pylist()
    return [content_id("persona", n) for n in norm]


def persona_id(text: str) -> str:
    return persona_ids([text])[0]


# ---------------------------------------------------------------- config


class PersonasConfig(Frozen):
    """Building the persona set: seeds, text-to-persona, persona-to-persona, dedup."""

    seed_file: Path | None = Field(SEED_PERSONAS, description="JSONL of {'persona': ...}; None: no seeds")
    from_text_template: str = "persona_from_text"
    expand_template: str = "persona_expand"
    template_dirs: tuple[Path, ...] = Field((), description="folders searched for template names before built-ins")
    text_column: str = "text"
    max_text_chars: int = Field(4000, ge=100, description="a chunk is cut to this many characters in the prompt")
    expand_per_persona: int = Field(2, ge=0, description="related personas to ask for per persona (one per relation)")
    relations: tuple[str, ...] = Field(RELATIONS, min_length=1)
    sampling: SamplingConfig = SamplingConfig(temperature=0.7, top_p=0.95, max_tokens=160)
    max_persona_chars: int = Field(400, ge=20, description="JSON schema maxLength of the persona")
    min_persona_words: int = Field(5, ge=1)
    max_sentences: int = Field(3, ge=1, description="prompts ask for one or two; a little slack for abbreviations")
    seed: int = 0
    dedup: DedupConfig = PERSONA_DEDUP


class PersonaTasksConfig(Frozen):
    """Persona x task templates -> SFT rows."""

    templates: tuple[str, ...] = Field(TASK_TEMPLATES, min_length=1, description="names or paths to .jinja files")
    template_dirs: tuple[Path, ...] = Field((), description="folders searched for template names before built-ins")
    per_persona: int = Field(1, ge=1, description="samples per persona and template")
    system_prompt: str | None = Field(None, description="system turn for the answer; None: none")
    instruction: SamplingConfig = SamplingConfig(temperature=0.7, top_p=0.95, max_tokens=320)
    response: SamplingConfig = SamplingConfig(temperature=0.7, top_p=0.95, max_tokens=1024)
    min_instruction_words: int = Field(4, ge=1)
    seed: int = 0


# ---------------------------------------------------------------- helpers


def _require_variable(template: PromptTemplate, variable: str) -> PromptTemplate:
    """A template that never uses the value it exists for is a mistake; say so before any model call."""
    used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(template.text))
    if variable not in used:
        raise ConfigError(f"prompt template {template.name!r} never uses {{{{ {variable} }}}}; it must")
    return template


def _usage(outs: Sequence[Completion]) -> dict[str, int]:
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in outs),
        "completion_tokens": sum(c.completion_tokens for c in outs),
    }


def _sampling_json(**params: SamplingConfig) -> str:
    return json.dumps({k: p.model_dump(exclude={"seed"}) for k, p in params.items()}, sort_keys=True)


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
    if _REFUSAL.match(text):
        return Reject("persona_refusal", "the model declined instead of describing a person", c.text)
    words = len(text.split())
    if words < cfg.min_persona_words:
        return Reject("persona_too_short", f"{words} words < {cfg.min_persona_words}", c.text)
    sentences = len(_SENTENCE_END.findall(text)) or 1
    if sentences > cfg.max_sentences:
        return Reject("persona_too_many_sentences", f"{sentences} sentences > {cfg.max_sentences}", c.text)
    return text


# ---------------------------------------------------------------- seeds


def _seed_line(path: Path, lineno: int, line: str) -> str:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{lineno}: not JSON ({err.msg} at char {err.pos})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f'{path}:{lineno}: expected an object {{"persona": "..."}}, got {type(obj).__name__}')
    extra = sorted(set(obj) - {"persona"})
    if extra:
        raise ConfigError(f"{path}:{lineno}: unknown key(s) {extra}; only 'persona' is allowed")
    text = obj.get("persona")
    if not isinstance(text, str) or not clean_text(text):
        raise ConfigError(f"{path}:{lineno}: 'persona' must be a non-empty string, got {text!r}")
    return clean_text(text)


def load_seed_personas(path: Path | str = SEED_PERSONAS, run_id: str = "") -> pa.Table:
    """Seed personas as a PERSONA_SCHEMA table (origin "seed"). Blank lines are skipped; any other
    bad line raises ConfigError naming file and line. Lineage: template_name/hash = the file's name
    and content hash."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read seed personas {path}: {err}") from None
    texts = [_seed_line(path, n, line) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    base = lineage(
        source_kind="seed",
        generator="personas/seed",
        generator_version=GENERATOR_VERSION,
        template_name=path.name,
        template_hash=text_hash(raw),
        seed=0,
        run_id=run_id,
    )
    ids = persona_ids(texts)
    rows = [PersonaRow(id=i, persona=t, origin="seed", **base) for i, t in zip(ids, texts, strict=True)]
    return to_table(rows, PERSONA_SCHEMA)


# ---------------------------------------------------------------- from text / expansion


@dataclass
class _Attempt:
    """One persona asked of the model (or rejected before asking)."""

    parent_id: str
    seed: int
    messages: list[dict[str, str]]
    record: dict[str, Any]
    reject: Reject | None = None
    completion: Completion | None = None


@dataclass(frozen=True)
class _PersonaStep:
    stage: str
    origin: str
    source_kind: str
    template: PromptTemplate


def _ask_personas(attempts: list[_Attempt], cfg: PersonasConfig, engine: Engine) -> list[str]:
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


def _persona_result(
    step: _PersonaStep, attempts: list[_Attempt], cfg: PersonasConfig, engine: Engine, run_id: str, started: float
) -> StageResult:
    texts = _ask_personas(attempts, cfg, engine)
    ids = persona_ids(texts)
    base = lineage(
        source_kind=step.source_kind,
        generator=f"personas/{step.origin}",
        generator_version=GENERATOR_VERSION,
        model_id=engine.model_id,
        template_name=step.template.name,
        template_hash=step.template.hash,
        sampling=_sampling_json(persona=cfg.sampling),
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


def _columns(table: pa.Table, needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in table.schema.names]
    if missing:
        raise ConfigError(f"{what}: missing column(s) {missing} (columns: {', '.join(table.schema.names)})")


class PersonasFromText(Frozen):
    """Text-to-persona: `stage(chunks, engine, run_id) -> StageResult` of PERSONA_SCHEMA rows.
    `chunks` needs `id` and `config.text_column`; one persona is asked per chunk."""

    config: PersonasConfig = PersonasConfig()

    def template(self) -> PromptTemplate:
        t = load_template(self.config.from_text_template, self.config.template_dirs)
        return _require_variable(t, "text")

    def format_input(self, text: str, template: PromptTemplate) -> list[dict[str, str]]:
        return [{"role": "user", "content": template.render(text=text[: self.config.max_text_chars])}]

    def parse_output(self, c: Completion, special: tuple[str, ...]) -> str | Reject:
        return parse_persona(c, special, self.config)

    def _attempt(self, row: dict[str, Any], template: PromptTemplate) -> _Attempt:
        chunk_id, text = str(row["id"]), (row[self.config.text_column] or "").strip()
        attempt = _Attempt(chunk_id, derive_seed(self.config.seed, "from_text", chunk_id), [], {"chunk_id": chunk_id})
        if not text:
            attempt.reject = Reject("source_text_empty", "the chunk has no text", "")
        else:
            attempt.messages = self.format_input(text, template)
        return attempt

    def __call__(self, chunks: pa.Table, engine: Engine, run_id: str) -> StageResult:
        started = time.perf_counter()
        _columns(chunks, ("id", self.config.text_column), "text-to-persona input")
        template = self.template()
        attempts = [self._attempt(r, template) for r in chunks.select(["id", self.config.text_column]).to_pylist()]
        step = _PersonaStep("persona_from_text", "from_text", "text", template)
        return _persona_result(step, attempts, self.config, engine, run_id, started)


class ExpandPersonas(Frozen):
    """Persona-to-persona: `config.expand_per_persona` related personas per input persona, each for a
    different relation (cycling through `config.relations` from an offset that depends on the persona)."""

    config: PersonasConfig = PersonasConfig()

    def template(self) -> PromptTemplate:
        return _require_variable(load_template(self.config.expand_template, self.config.template_dirs), "persona")

    def relations_for(self, parent_id: str) -> list[str]:
        rel = self.config.relations
        offset = derive_seed("relations", parent_id) % len(rel)
        return [rel[(offset + j) % len(rel)] for j in range(self.config.expand_per_persona)]

    def format_input(self, persona: str, relation: str, template: PromptTemplate) -> list[dict[str, str]]:
        return [{"role": "user", "content": template.render(persona=persona, relation=relation)}]

    def parse_output(self, c: Completion, special: tuple[str, ...]) -> str | Reject:
        return parse_persona(c, special, self.config)

    def __call__(self, personas: pa.Table, engine: Engine, run_id: str) -> StageResult:
        started = time.perf_counter()
        _columns(personas, ("id", "persona"), "persona expansion input")
        template = self.template()
        attempts = []
        for row in personas.select(["id", "persona"]).to_pylist():
            for j, relation in enumerate(self.relations_for(row["id"])):
                record = {"parent_id": row["id"], "parent_persona": row["persona"], "relation": relation}
                messages = self.format_input(row["persona"], relation, template)
                seed = derive_seed(self.config.seed, "expand", row["id"], j)
                attempts.append(_Attempt(row["id"], seed, messages, record))
        step = _PersonaStep("persona_expand", "expanded", "persona", template)
        return _persona_result(step, attempts, self.config, engine, run_id, started)


# ---------------------------------------------------------------- dedup


# ---------------------------------------------------------------- the whole persona build


def _concat(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    tables = [t.select(schema.names).cast(schema) for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else schema.empty_table()


PersonaDedupFn = Callable[[pa.Table], StageResult]


def _no_dedup(personas: pa.Table) -> StageResult:
    raise ConfigError("the persona build needs a dedup step: pass dedup=filters.dedup.personas.PersonaDedup(...)")


class Personas(Frozen):
    """The whole build: seeds + text-to-persona (when chunks are given), dedup, expansion of what is
    kept (no model calls spent on duplicates), dedup of everything (earliest kept, so seeds win).
    `stage(engine, run_id, chunks=None) -> StageResult`, or `run(chunks, ctx)` (schemas/stage.py);
    rows_in counts seeds + chunks + expansion attempts, and rejects hold every step's drops.
    `dedup` is given by the caller (filters/dedup/personas.PersonaDedup): generators do not import filters."""

    version: ClassVar[str] = GENERATOR_VERSION
    config: PersonasConfig = PersonasConfig()
    dedup: PersonaDedupFn = Field(_no_dedup, exclude=True)

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """`rows`: text chunks (id + config.text_column) to infer personas from; empty: seeds only."""
        chunks = rows if rows.num_rows else None
        needs_model = chunks is not None or (self.config.expand_per_persona and self.config.seed_file)
        return self(ctx.engine() if needs_model else NO_ENGINE, ctx.run_id, chunks).named(ctx.name)

    def __call__(self, engine: Engine, run_id: str, chunks: pa.Table | None = None) -> StageResult:
        started = time.perf_counter()
        cfg = self.config
        seeds = load_seed_personas(cfg.seed_file, run_id) if cfg.seed_file else PERSONA_SCHEMA.empty_table()
        steps: list[StageResult] = []
        if chunks is not None:
            steps.append(PersonasFromText(config=cfg)(chunks, engine, run_id))
        deduped = self.dedup(_concat([seeds, *(s.rows for s in steps)], PERSONA_SCHEMA))
        steps.append(deduped)
        if cfg.expand_per_persona and deduped.rows.num_rows:
            expanded = ExpandPersonas(config=cfg)(deduped.rows, engine, run_id)
            deduped = self.dedup(_concat([deduped.rows, expanded.rows], PERSONA_SCHEMA))
            steps += [expanded, deduped]
        return _combined("personas", steps, deduped.rows, seeds.num_rows, started)


class GrowPersonas(Frozen):
    """Expand a personas dataset: its personas plus `expand_per_persona` related ones each, deduplicated
    together (earliest kept, so the input's personas win). `run(personas, ctx) -> StageResult`."""

    version: ClassVar[str] = GENERATOR_VERSION
    config: PersonasConfig = PersonasConfig()
    dedup: PersonaDedupFn = Field(_no_dedup, exclude=True)

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        started = time.perf_counter()
        engine = ctx.engine() if rows.num_rows else NO_ENGINE
        expanded = ExpandPersonas(config=self.config)(rows, engine, ctx.run_id)
        deduped = self.dedup(_concat([rows, expanded.rows], PERSONA_SCHEMA))
        return _combined(ctx.name, [expanded, deduped], deduped.rows, rows.num_rows, started)


def _combined(name: str, steps: list[StageResult], rows: pa.Table, extra_in: int, started: float) -> StageResult:
    """One StageResult for a multi-step build: rows_in = `extra_in` + every model step's rows_in."""
    rejects = _concat([s.rejects for s in steps], REJECT_SCHEMA)
    stats = StageStats(
        name=name,
        rows_in=extra_in + sum(s.stats.rows_in for s in steps if s.stats.name != "persona_dedup"),
        rows_out=rows.num_rows,
        rejected=rejects.num_rows,
        prompt_tokens=sum(s.stats.prompt_tokens for s in steps),
        completion_tokens=sum(s.stats.completion_tokens for s in steps),
        seconds=round(time.perf_counter() - started, 3),
    )
    return StageResult(rows, rejects, stats)


# ---------------------------------------------------------------- persona x task templates


@dataclass
class _Task(Attempt):
    persona_id: str
    persona: str
    template: PromptTemplate
    index: int
    seed: int
    messages: list[dict[str, str]] = field(default_factory=list)  # user + assistant, once answered


class PersonaTasks(Frozen):
    """Persona x task templates -> SFT rows: `stage(personas, engine, run_id) -> StageResult`.
    rows_in = personas x templates x per_persona."""

    version: ClassVar[str] = GENERATOR_VERSION
    config: PersonaTasksConfig = PersonaTasksConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """Personas (id, persona) in; one SFT conversation per persona x template x per_persona out."""
        return self(rows, ctx.engine() if rows.num_rows else NO_ENGINE, ctx.run_id, ctx.name)

    def templates(self) -> list[PromptTemplate]:
        loaded = [
            _require_variable(load_template(t, self.config.template_dirs), "persona") for t in self.config.templates
        ]
        names = [t.name for t in loaded]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise ConfigError(f"task templates share the name(s) {clash}; rows could not tell them apart")
        return loaded

    def system(self) -> list[dict[str, str]]:
        return system_turn(self.config.system_prompt)

    def format_input(self, persona: str, template: PromptTemplate, index: int = 0) -> list[dict[str, str]]:
        return [{"role": "user", "content": template.render(persona=persona, index=index)}]

    def parse_instruction(self, c: Completion, special: tuple[str, ...]) -> str | Reject:
        text = check_generated(unquote(c.text), c, "instruction", self.config.instruction.max_tokens, special)
        if isinstance(text, Reject):
            return text
        if _REFUSAL.match(text):
            return Reject("instruction_refusal", "the model declined the task", c.text)
        if _PREAMBLE.match(text):
            return Reject("instruction_preamble", "starts with a reply to the prompt ('Sure', 'Here is')", c.text)
        words = len(text.split())
        if words < self.config.min_instruction_words:
            return Reject("instruction_too_short", f"{words} words < {self.config.min_instruction_words}", c.text)
        return text

    def parse_response(self, c: Completion, special: tuple[str, ...]) -> str | Reject:
        return check_generated(c.text.strip(), c, "response", self.config.response.max_tokens, special)

    def _tasks(self, personas: pa.Table, templates: list[PromptTemplate]) -> list[_Task]:
        tasks = []
        for row in personas.select(["id", "persona"]).to_pylist():
            for t in templates:
                for k in range(self.config.per_persona):
                    seed = derive_seed(self.config.seed, row["id"], t.name, t.hash, k)
                    tasks.append(_Task(row["id"], row["persona"], t, k, seed))
        return tasks

    def __call__(self, personas: pa.Table, engine: Engine, run_id: str, name: str = "persona_tasks") -> StageResult:
        started = time.perf_counter()
        _columns(personas, ("id", "persona"), "persona tasks input")
        templates = self.templates()
        tasks = self._tasks(personas, templates)
        special = engine.special_tokens()
        self._instructions(engine, tasks, special)
        self._responses(engine, [t for t in tasks if t.reject is None], special)
        return self._result(engine, tasks, run_id, started, name)

    def _instructions(self, engine: Engine, tasks: list[_Task], special: tuple[str, ...]) -> None:
        if not tasks:
            return
        chats = [self.format_input(t.persona, t.template, t.index) for t in tasks]
        params = [self.config.instruction.model_copy(update={"seed": t.seed}) for t in tasks]
        for task, out in zip(tasks, engine.chat(chats, params), strict=True):
            task.add_usage(out)
            parsed = self.parse_instruction(out, special)
            if isinstance(parsed, Reject):
                task.reject = parsed
            else:
                task.messages.append({"role": "user", "content": parsed})

    def _responses(self, engine: Engine, live: list[_Task], special: tuple[str, ...]) -> None:
        if not live:
            return
        chats = [[*self.system(), *t.messages] for t in live]
        params = [self.config.response.model_copy(update={"seed": t.seed}) for t in live]
        for task, out in zip(live, engine.chat(chats, params), strict=True):
            task.add_usage(out)
            parsed = self.parse_response(out, special)
            if isinstance(parsed, Reject):
                task.reject = parsed
            else:
                task.messages.append({"role": "assistant", "content": parsed})

    def _lineage(self, engine: Engine, task: _Task, run_id: str) -> dict[str, Any]:
        return lineage(
            source_kind="persona",
            generator="personas/tasks",
            generator_version=GENERATOR_VERSION,
            model_id=engine.model_id,
            template_name=task.template.name,
            template_hash=task.template.hash,
            sampling=_sampling_json(instruction=self.config.instruction, response=self.config.response),
            run_id=run_id,
            parent_ids=[task.persona_id],
        )

    def _result(self, engine: Engine, tasks: list[_Task], run_id: str, started: float, name: str) -> StageResult:
        out = SftCollector(name)
        for t in tasks:
            record = {"persona_id": t.persona_id, "persona": t.persona, "index": t.index}
            out.add(
                [*self.system(), *t.messages],
                t.reject,
                t.seed,
                self._lineage(engine, t, run_id),
                (t.prompt_tokens, t.completion_tokens),
                record,
            )
        return out.result(
            len(tasks),
            sum(t.prompt_tokens for t in tasks),
            sum(t.completion_tokens for t in tasks),
            time.perf_counter() - started,
        )
