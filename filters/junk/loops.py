"""Sentence-level loops: the same sentence (or line) of several words said again and again.

Character loops ("1.1.1.1…") and repeated n-grams are checked in `filters.heuristics`; this catches
the model restating one sentence between otherwise varied text, which n-gram shares dilute in a
long answer. Code blocks are ignored, and so are songs, chants and texts the user asked to repeat.
"""

from __future__ import annotations

import re
from collections import Counter

from filters.junk.text import sentences, without_code, words

_REPEAT_ASKED = re.compile(r"\b(?:songs?|lyrics|chorus|refrain|chants?|repeat|anthem|jingle|mantra|rap)\b", re.I)


def repeated_sentence(response: str, instruction: str = "", min_words: int = 4, min_count: int = 3) -> str | None:
    """'<sentence> said N times' when one sentence of >= min_words words occurs >= min_count times."""
    if _REPEAT_ASKED.search(instruction):
        return None
    counts = Counter(" ".join(ws) for s in sentences(without_code(response)) if len(ws := words(s)) >= min_words)
    if not counts:
        return None
    sentence, n = counts.most_common(1)[0]
    return None if n < min_count else f"{sentence[:60]!r} said {n} times (>= {min_count})"
