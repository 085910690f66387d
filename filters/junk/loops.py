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


def repeated_sentence(
    response: str, instruction: str = "", min_words: int = 4, min_count: int = 3, min_sentences: int = 5
) -> str | None:
    """What repeats, when one sentence of >= min_words words occurs >= min_count times, or when the text has
    >= min_sentences sentences (or list items) of 2+ words and fewer than half of them are distinct."""
    if _REPEAT_ASKED.search(instruction):
        return None
    said = [" ".join(ws) for s in sentences(without_code(response)) if len(ws := _item_words(s)) >= 2]
    counts = Counter(s for s in said if len(s.split()) >= min_words)
    if counts and (top := counts.most_common(1)[0])[1] >= min_count:
        return f"{top[0][:60]!r} said {top[1]} times (>= {min_count})"
    distinct = len(set(said))
    if len(said) >= min_sentences and distinct < len(said) / 2:
        return f"only {distinct} distinct of {len(said)} sentences"
    return None


def _item_words(sentence: str) -> list[str]:
    """The sentence's words without a leading list number ("3. Take breaks" -> take, breaks)."""
    ws = words(sentence)
    return ws[1:] if ws and ws[0].isdigit() else ws
