"""Echo: the response repeats the instruction, or barely extends it, instead of answering.

Compared on word sequences with rapidfuzz (LCS over words, so reordering and small edits are
tolerated): the response is an echo when it covers most of the instruction's *request* in order
and adds only a few words of its own. The request is the instruction up to its payload (text after
a colon, a newline or an opening quote), so rewriting tasks whose answer legitimately repeats the
payload ("Fix the typo: 'Teh cat sat.'" -> "The cat sat.") are not echoes. A character-level
ratio also catches near-copies in scripts without spaces, and a response whose content words are
all the request's own ("What is the history of X?" -> "The history of X.") adds nothing. Short
answers add the answer ("What is the capital of France?" -> "... is Paris."), so they are kept.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

from filters.junk.text import words

_STOP_LIST = (
    "a an the and or but of to in on at for with by from as is are was were be been being it its this that these "
    "those what which who whom whose how why when where do does did can could would should will shall may might "
    "must i you he she we they me my your our their his her them us there here about into than then so some any "
    "please tell give explain describe write list show me name"
)
_STOP = frozenset(_STOP_LIST.split())
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


def echo(
    instruction: str,
    response: str,
    min_cover: float = 0.8,
    max_new_words: int = 8,
    max_new_share: float = 0.5,
    max_char_ratio: float = 90.0,
) -> str | None:
    """'<measure>' when the response echoes the instruction, else None."""
    body = _LEAD_IN.sub("", response, count=1)
    a, b = instruction.strip().lower(), body.strip().lower()
    if not a or not b:
        return None
    ratio = fuzz.ratio(a, b)
    if ratio >= max_char_ratio:
        return f"response is a near-copy of the instruction (char similarity {ratio:.0f} >= {max_char_ratio:.0f})"
    req, resp = _stems(request_part(instruction)), _stems(body)
    if not req or not resp:
        return None
    common = LCSseq.similarity(req, resp)
    cover, new = common / len(req), len(resp) - common
    allowed = max(max_new_words, int(max_new_share * len(words(instruction))))
    if cover >= min_cover and new <= allowed:
        return f"response repeats {cover:.0%} of the request in order and adds {new} words (<= {allowed})"
    req_content, resp_content = _content(req), _content(resp)
    if len(req_content) >= 2 and resp_content and set(resp_content) <= set(req_content):
        covered = len(set(req_content) & set(resp_content)) / len(set(req_content))
        if covered >= min_cover:
            return f"response restates {covered:.0%} of the request's content words and adds none"
    return None


def _stems(text: str) -> list[str]:
    """Words cut to 5 characters: a crude stem, so 'struggle'/'struggling' or 'tip'/'tips' still match."""
    return [w[:5] if len(w) > 5 else w.rstrip("s") if len(w) > 3 else w for w in words(text)]


def _content(stems: list[str]) -> list[str]:
    return [w for w in stems if w not in _STOP]
