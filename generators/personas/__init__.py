"""Persona Hub style personas (arXiv 2406.20094) and persona-driven SFT data, one module per stage.

Personas are a dataset of their own (`PERSONA_SCHEMA`: id, persona, origin, lineage; common.py), from
three sources: seeds.py (a hand-written list), from_text.py (who would read or write this chunk?) and
expand.py (people related to a persona), the last two asking the model the same way (ask.py).
build.py runs the whole build: seeds + from_text, expansion of both, then dedup (earliest kept).
tasks.py turns personas into SFT rows through task templates. Engine calls are batched: one chat
call per step for the whole input.
"""

from generators.personas.ask import parse_persona, persona_model
from generators.personas.build import GrowPersonas, PersonaDedupFn, Personas
from generators.personas.common import (
    GENERATOR_VERSION,
    ORIGINS,
    PERSONA_SCHEMA,
    RELATIONS,
    SEED_PERSONAS,
    PersonaRow,
    PersonasConfig,
    clean_text,
    persona_id,
    persona_ids,
    unquote,
)
from generators.personas.expand import ExpandPersonas
from generators.personas.from_text import PersonasFromText
from generators.personas.seeds import load_seed_personas
from generators.personas.tasks import TASK_TEMPLATES, PersonaTasks, PersonaTasksConfig
from schemas.dedup_config import PERSONA_DEDUP

__all__ = [
    "GENERATOR_VERSION",
    "ORIGINS",
    "PERSONA_DEDUP",
    "PERSONA_SCHEMA",
    "RELATIONS",
    "SEED_PERSONAS",
    "TASK_TEMPLATES",
    "ExpandPersonas",
    "GrowPersonas",
    "PersonaDedupFn",
    "PersonaRow",
    "PersonaTasks",
    "PersonaTasksConfig",
    "Personas",
    "PersonasConfig",
    "PersonasFromText",
    "clean_text",
    "load_seed_personas",
    "parse_persona",
    "persona_id",
    "persona_ids",
    "persona_model",
    "unquote",
]
