"""Persona x task templates -> SFT rows (`PersonaTasks`).

Each task template is a Jinja file that gets `persona` (and `index`, the sample number for that
persona and template). SFT mapping, the same for every template: what the model writes for the
template becomes the user instruction, and a second chat call, which does not see the persona,
answers it; that answer is the response. `persona_user_prompt` gives a request the persona would
send, `persona_math_problem` a hard problem (no solution; the response solves it), and
`persona_article` a request "Write an article on ... for ..." whose response is the article.
A user adds a task by giving a path to a .jinja file, or a name found in `template_dirs`. Each row
has the persona id in parent_ids and the template's name and hash in its lineage.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field

from generators.personas.common import (
    GENERATOR_VERSION,
    REFUSAL,
    require_columns,
    require_variable,
    sampling_json,
    unquote,
)
from schemas.config import Frozen, SamplingConfig
from schemas.engine import NO_ENGINE, Completion, Engine
from schemas.errors import ConfigError
from schemas.result import Attempt, Reject, SftCollector, StageResult, check_generated
from schemas.rows import SFT_SCHEMA
from schemas.stage import StageContext, derive_seed, lineage, system_turn
from schemas.templates import PromptTemplate, load_template

TASK_TEMPLATES = ("persona_user_prompt", "persona_math_problem", "persona_article")

_PREAMBLE = re.compile(r"^(sure|certainly|of course|okay|here(?:'s| is| are))\b", re.IGNORECASE)


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


@dataclass
class _Task(Attempt):
    persona_id: str
    persona: str
    template: PromptTemplate
    index: int
    seed: int
    messages: list[dict[str, str]] = field(default_factory=list)  # user + assistant, once answered


class PersonaTasks(Frozen):
    """Persona x task templates -> SFT rows: `run(personas, ctx) -> StageResult` (schemas/stage.py).
    rows_in = personas x templates x per_persona."""

    version: ClassVar[str] = GENERATOR_VERSION
    inputs: ClassVar[tuple[str, ...]] = ("id", "persona")
    outputs: ClassVar[tuple[str, ...]] = tuple(SFT_SCHEMA.names)
    config: PersonaTasksConfig = PersonaTasksConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """Personas (id, persona) in; one SFT conversation per persona x template x per_persona out.
        No model is loaded for no personas."""
        engine = ctx.engine() if rows.num_rows else NO_ENGINE
        started = time.perf_counter()
        require_columns(rows, ("id", "persona"), "persona tasks input")
        tasks = self._tasks(rows, self.templates())
        special = engine.special_tokens()
        self._instructions(engine, tasks, special)
        self._responses(engine, [t for t in tasks if t.reject is None], special)
        return self._result(engine, tasks, ctx.run_id, started, ctx.name)

    def templates(self) -> list[PromptTemplate]:
        loaded = [
            require_variable(load_template(t, self.config.template_dirs), "persona") for t in self.config.templates
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
        if REFUSAL.match(text):
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
            sampling=sampling_json(instruction=self.config.instruction, response=self.config.response),
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
