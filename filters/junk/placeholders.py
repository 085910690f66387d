"""Placeholders where the answer should be: "[Insert code here]", "<your answer here>", "TODO: write
the explanation", lorem ipsum filler. A model that writes them has not done the task. Names, dates
and addresses in brackets ("Dear [Hiring Manager's Name]") are how a letter or template leaves the
user's details open and are fine; so is any placeholder when the instruction asks for a template,
placeholders or filler text."""

from __future__ import annotations

import re

_WORK = (
    r"(?:code|answer|response|solution|explanation|content|text|details?|steps?|examples?|implementation|body"
    r"|story|poem|summary)"
)
_BRACKETED = re.compile(
    rf"[\[<{{]\s*(?:(?:insert|add|put|write|paste|include|fill in)\s+(?:the\s+|your\s+|an?\s+|relevant\s+)?"
    rf"(?:\w+\s+)?{_WORK}\b[^\]>}})\n]{{0,40}}|(?:your|the)\s+{_WORK}\s+(?:goes\s+)?here)\s*[\]>}}]",
    re.IGNORECASE,
)
_TODO = re.compile(rf"^\s*(?:#|//)?\s*TODO\b[:\s-]*(?:write|add|insert|fill|implement|complete)\b.{{0,40}}{_WORK}",
                   re.IGNORECASE | re.MULTILINE)  # fmt: skip
_LOREM = re.compile(r"\blorem ipsum\b", re.IGNORECASE)
_ASKS = re.compile(
    r"\b(?:templates?|placeholders?|fill[- ]in|blanks?|lorem|filler|dummy text|boilerplate|skeleton|stub|todo)\b",
    re.IGNORECASE,
)


def placeholder(response: str, instruction: str = "") -> str | None:
    """The placeholder standing in for the answer, or None (also when the instruction asks for them)."""
    if _ASKS.search(instruction):
        return None
    for pattern in (_BRACKETED, _TODO, _LOREM):
        if found := pattern.search(response):
            return f"placeholder {found.group().strip()[:60]!r} instead of the answer"
    return None
