"""Persona-to-persona: people related to a persona, one per relation (colleague, client, mentor...)."""

from __future__ import annotations

import time

import pyarrow as pa

from generators.personas.ask import PersonaAttempt, PersonaStep, parse_persona, persona_result
from generators.personas.common import PersonasConfig, require_columns, require_variable
from schemas.config import Frozen
from schemas.engine import Completion, Engine
from schemas.result import Reject, StageResult
from schemas.stage import derive_seed
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

    def __call__(self, personas: pa.Table, engine: Engine, run_id: str) -> StageResult:
        started = time.perf_counter()
        require_columns(personas, ("id", "persona"), "persona expansion input")
        template = self.template()
        attempts = []
        for row in personas.select(["id", "persona"]).to_pylist():
            for j, relation in enumerate(self.relations_for(row["id"])):
                record = {"parent_id": row["id"], "parent_persona": row["persona"], "relation": relation}
                messages = self.format_input(row["persona"], relation, template)
                seed = derive_seed(self.config.seed, "expand", row["id"], j)
                attempts.append(PersonaAttempt(row["id"], seed, messages, record))
        step = PersonaStep("persona_expand", "expanded", "persona", template)
        return persona_result(step, attempts, self.config, engine, run_id, started)
