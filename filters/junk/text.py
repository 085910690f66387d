"""Small text helpers shared by the junk detectors."""

from __future__ import annotations

import re

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def without_code(text: str) -> str:
    """The text with fenced code blocks removed (an unclosed fence runs to the end)."""
    return _CODE_BLOCK.sub(" ", text)


def sentences(text: str, limit: int | None = None) -> list[str]:
    """Sentences (or lines), stripped and non-empty; the first `limit` when given."""
    out = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    return out if limit is None else out[:limit]


def words(text: str) -> list[str]:
    """Lowercased words (letters/digits, inner apostrophes kept, curly ones made straight)."""
    return [w.replace("’", "'") for w in WORD.findall(text.lower())]
