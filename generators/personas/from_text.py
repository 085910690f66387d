"""Text-to-persona: for each text chunk, "who is likely to read, write or care about this text?"."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

from generators.personas.ask import PersonaAttempt, PersonaStep, parse_persona, persona_result
from generators.personas.common import PersonasConfig, require_columns, require_variable
from schemas.config import Frozen
from schemas.engine import NO_ENGINE, Completion, Engine
from schemas.result import Reject, StageResult
from schemas.stage import StageContext, context, derive_seed
from schemas.templates import PromptTemplate, load_template


class PersonasFromText(Frozen):
    """Text-to-persona: `run(chunks, ctx) -> StageResult` of PERSONA_SCHEMA rows (or
    `stage(chunks, engine, run_id)`). `chunks` needs `id` and `config.text_column`; one persona per chunk."""

    config: PersonasConfig = PersonasConfig()

    def template(self) -> PromptTemplate:
        t = load_template(self.config.from_text_template, self.config.template_dirs)
        return require_variable(t, "text")

    def format_input(self, text: str, template: PromptTemplate) -> list[dict[str, str]]:
        return [{"role": "user", "content": template.render(text=text[: self.config.max_text_chars])}]

    def parse_output(self, c: Completion, special: tuple[str, ...]) -> str | Reject:
        return parse_persona(c, special, self.config)

    def _attempt(self, row: dict[str, Any], template: PromptTemplate) -> PersonaAttempt:
        chunk_id, text = str(row["id"]), (row[self.config.text_column] or "").strip()
        seed = derive_seed(self.config.seed, "from_text", chunk_id)
        attempt = PersonaAttempt(chunk_id, seed, [], {"chunk_id": chunk_id})
        if not text:
            attempt.reject = Reject("source_text_empty", "the chunk has no text", "")
        else:
            attempt.messages = self.format_input(text, template)
        return attempt

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """Chunks (id + `config.text_column`) in, one persona asked per chunk; no model for no chunks."""
        started = time.perf_counter()
        require_columns(rows, ("id", self.config.text_column), "text-to-persona input")
        template = self.template()
        attempts = [self._attempt(r, template) for r in rows.select(["id", self.config.text_column]).to_pylist()]
        step = PersonaStep("persona_from_text", "from_text", "text", template)
        engine = ctx.engine() if rows.num_rows else NO_ENGINE
        return persona_result(step, attempts, self.config, engine, ctx.run_id, started).named(ctx.name)

    def __call__(self, chunks: pa.Table, engine: Engine, run_id: str) -> StageResult:
        """`run` under the name "persona_from_text"."""
        return self.run(chunks, context("persona_from_text", engine, run_id))
