"""Persona-to-persona: people related to a persona, one per relation (colleague, client, mentor...)."""

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


class ExpandPersonas(Frozen):
    """Persona-to-persona: `config.expand_per_persona` related personas per input persona, each for a
    different relation (cycling through `config.relations` from an offset that depends on the persona)."""

    config: PersonasConfig = PersonasConfig()

    def template(self) -> PromptTemplate:
        return require_variable(load_template(self.config.expand_template, self.config.template_dirs), "persona")

    def relations_for(self, parent_id: str) -> list[str]:
        rel = self.config.relations
        offset = derive_seed("relations", parent_id) % len(rel)
        return [rel[(offset + j) % len(rel)] for j in range(self.config.expand_per_persona)]

    def format_input(self, persona: str, relation: str, template: PromptTemplate) -> list[dict[str, str]]:
        return [{"role": "user", "content": template.render(persona=persona, relation=relation)}]

    def parse_output(self, c: Completion, special: tuple[str, ...]) -> str | Reject:
        return parse_persona(c, special, self.config)

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """Personas (id, persona) in, `expand_per_persona` related ones each out; no model for none."""
        started = time.perf_counter()
        require_columns(rows, ("id", "persona"), "persona expansion input")
        template = self.template()
        attempts = [a for row in rows.select(["id", "persona"]).to_pylist() for a in self._attempts(row, template)]
        step = PersonaStep("persona_expand", "expanded", "persona", template)
        engine = ctx.engine() if rows.num_rows else NO_ENGINE
        return persona_result(step, attempts, self.config, engine, ctx.run_id, started).named(ctx.name)

    def __call__(self, personas: pa.Table, engine: Engine, run_id: str) -> StageResult:
        """`run` under the name "persona_expand"."""
        return self.run(personas, context("persona_expand", engine, run_id))

    def _attempts(self, row: dict[str, Any], template: PromptTemplate) -> list[PersonaAttempt]:
        attempts = []
        for j, relation in enumerate(self.relations_for(row["id"])):
            record = {"parent_id": row["id"], "parent_persona": row["persona"], "relation": relation}
            messages = self.format_input(row["persona"], relation, template)
            seed = derive_seed(self.config.seed, "expand", row["id"], j)
            attempts.append(PersonaAttempt(row["id"], seed, messages, record))
        return attempts
