"""What the persona stages share: the persona row and its id, text cleanup, the build's config, and
the checks every stage makes before it asks the model anything."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import jinja2
import jinja2.meta
import pyarrow as pa
from pydantic import Field, field_validator

from schemas.config import Frozen, SamplingConfig
from schemas.dedup_config import PERSONA_DEDUP, DedupConfig
from schemas.errors import ConfigError
from schemas.rows import Lineage, arrow_schema, content_id
from schemas.templates import PromptTemplate
from schemas.text import normalize

GENERATOR_VERSION = "1"
SEED_PERSONAS = Path(__file__).resolve().parents[2] / "data" / "seeds" / "personas.jsonl"
ORIGINS = ("seed", "from_text", "expanded")
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

REFUSAL = re.compile(r"^(i'?m sorry|i am sorry|i cannot|i can'?t|i'?m unable|as an ai)\b", re.IGNORECASE)
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


# ---------------------------------------------------------------- checks and lineage


def require_variable(template: PromptTemplate, variable: str) -> PromptTemplate:
    """A template that never uses the value it exists for is a mistake; say so before any model call."""
    used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(template.text))
    if variable not in used:
        raise ConfigError(f"prompt template {template.name!r} never uses {{{{ {variable} }}}}; it must")
    return template


def require_columns(table: pa.Table, needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in table.schema.names]
    if missing:
        raise ConfigError(f"{what}: missing column(s) {missing} (columns: {', '.join(table.schema.names)})")


def sampling_json(**params: SamplingConfig) -> str:
    return json.dumps({k: p.model_dump(exclude={"seed"}) for k, p in params.items()}, sort_keys=True)
