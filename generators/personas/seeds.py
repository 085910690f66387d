"""Seed personas: a hand-written JSONL list, one {"persona": "..."} per line (`SEED_PERSONAS` ships ~200)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from generators.personas.common import (
    GENERATOR_VERSION,
    PERSONA_SCHEMA,
    SEED_PERSONAS,
    PersonaRow,
    clean_text,
    persona_ids,
)
from schemas.errors import ConfigError
from schemas.rows import text_hash, to_table
from schemas.stage import lineage


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
