"""Echo: the response repeats the instruction, or barely extends it, instead of answering.

Compared on word sequences with rapidfuzz (LCS over words, so reordering and small edits are
tolerated): the response is an echo when it covers most of the instruction's *request* in order
and adds only a few words of its own. The request is the instruction up to its payload (text after
a colon, a newline or an opening quote), so rewriting tasks whose answer legitimately repeats the
payload ("Fix the typo: 'Teh cat sat.'" -> "The cat sat.") are not echoes. A character-level
ratio also catches near-copies in scripts without spaces.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

from filters.junk.text import words

_PAYLOAD = re.compile(r"[:：]\s|\n|[\"“«'‘`](?=\S)")
_LEAD_IN = re.compile(
    r"^\s*(?:sure|okay|ok|certainly|of course|absolutely|great|alright|yes)\b[!,.]?\s*"
    r"(?:(?:here(?:['’]s| is)|here are|i(?:['’]ll| will| can)|let me)\b[^:\n]{0,40}[:\n])?",
    re.IGNORECASE,
)


def request_part(instruction: str) -> str:
    """The instruction before its payload; the whole instruction when the request part is tiny."""
    m = _PAYLOAD.search(instruction)
    head = instruction[: m.start()] if m else instruction
    return head if len(words(head)) >= 3 else instruction


def echo(instruction: str, response: str, min_cover: float = 0.8, max_new_words: int = 8,
         max_new_share: float = 0.5, max_char_ratio: float = 90.0) -> str | None:
    """'<measure>' when the response echoes the instruction, else None."""
    body = _LEAD_IN.sub("", response, count=1)
    a, b = instruction.strip().lower(), body.strip().lower()
    if not a or not b:
        return None
    ratio = fuzz.ratio(a, b)
    if ratio >= max_char_ratio:
        return f"response is a near-copy of the instruction (char similarity {ratio:.0f} >= {max_char_ratio:.0f})"
    req, resp = words(request_part(instruction)), words(body)
    if not req or not resp:
        return None
    common = LCSseq.similarity(req, resp)
    cover, new = common / len(req), len(resp) - common
    allowed = max(max_new_words, int(max_new_share * len(words(instruction))))
    if cover >= min_cover and new <= allowed:
        return f"response repeats {cover:.0%} of the request in order and adds {new} words (<= {allowed})"
    return None
