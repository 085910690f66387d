"""Prompt templates: Jinja files shipped with the stages that use them (generators/prompts/,
filters/prompts/), or a user's own file/folder.

Every template is identified by name and content hash, which go into each row's lineage, so a
changed prompt is visible in the data (and, later, in cache keys)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from schemas.errors import ConfigError
from schemas.rows import text_hash

# Package data of the two stage packages, found by path so this module imports neither of them.
BUILTIN_DIRS = tuple(Path(__file__).resolve().parent.parent / pkg / "prompts" for pkg in ("generators", "filters"))
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str

    @property
    def hash(self) -> str:
        return text_hash(self.text)

    def render(self, **values: Any) -> str:
        try:
            return _ENV.from_string(self.text).render(**values).strip()
        except jinja2.UndefinedError as err:
            raise ConfigError(f"prompt template {self.name!r}: {err} (values given: {sorted(values)})") from None


def load_template(ref: str, search: tuple[Path, ...] = ()) -> PromptTemplate:
    """`ref` is a path to a .jinja file, or a template name looked up in `search` then built-ins."""
    path = Path(ref)
    if path.suffix == ".jinja" and path.is_file():
        return _read(path.stem, path)
    for folder in (*search, *BUILTIN_DIRS):
        candidate = Path(folder) / f"{ref}.jinja"
        if candidate.is_file():
            return _read(ref, candidate)
    known = sorted(p.stem for folder in (*search, *BUILTIN_DIRS) for p in Path(folder).glob("*.jinja"))
    raise ConfigError(f"prompt template {ref!r} not found (known: {', '.join(known)}); or give a path to a .jinja file")


def _read(name: str, path: Path) -> PromptTemplate:
    try:
        text = path.read_text(encoding="utf-8")
        _ENV.parse(text)
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read prompt template {path}: {err}") from None
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"prompt template {path} line {err.lineno}: {err.message}") from None
    return PromptTemplate(name, text)
