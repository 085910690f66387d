"""Cut-off text, told from the text alone (rows read from other datasets carry no finish reason).

A response is cut off when its end cannot be an end:
- an unclosed ``` code fence, or a `**bold` opened on the last line and never closed;
- it ends on a connector ("... and", "the", "of", "because"), a comma, a colon, a hyphen or an
  opening bracket/quote; a markdown heading or an empty list marker as the last line;
- the last prose sentence has no closing punctuation and is long enough to be one (>= `min_words`
  words, in a response of >= `min_total_words`): "Paris" or "x = 4" as a whole answer is fine;
- an announced count is not met: "Here are 5 tips:" followed by 3 list items.
List items, table rows, URLs and code lines need no final period. Verse (several short lines,
most without punctuation) is only checked for the structural signals, not for missing periods.
"""

from __future__ import annotations

import re

from filters.junk.text import WORD, without_code

_CONNECTOR_LIST = (  # words a finished sentence does not end on (modals and pronouns can: "if you can")
    "a an the and or but nor of to into onto at by for from with without as than that which whose because since "
    "while although though whereas unless until such your their its our my very more most each every between "
    "among through including especially e.g i.e"
)
_CONNECTORS = frozenset(_CONNECTOR_LIST.split())
_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]\s|\d{1,3}[.)]\s|[a-z][.)]\s|\|)", re.IGNORECASE)
_EMPTY_ITEM = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s*$")
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+\S.*|\*\*[^*]+\*\*:?)\s*$")
_CODE_LIKE = re.compile(r"^\s{2,}\S|[={}<>]|\w\(|;\s*$|^\s*(?:def|return|import|from|class|let|const|var)\s")
_URL_END = re.compile(r"(?:https?://|www\.)\S+$")
_DANGLING = ",;:-–—([{“‘/&+="
_TERMINAL = re.compile(r"[.!?。！？…]")
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten"
_NUMBERS = {w: i for i, w in enumerate(_NUMBER_WORDS.split())}
_ANNOUNCED = re.compile(
    r"\b(?:here are|these are|the following|following are|there are|below are)\s+(?:the\s+)?(\d{1,2}|"
    + "|".join(_NUMBERS)
    + r")\b[^:\n]{0,60}:",
    re.IGNORECASE,
)


def _is_verse(lines: list[str]) -> bool:
    if len(lines) < 4:
        return False
    short = sum(len(ln.split()) <= 10 for ln in lines)
    open_end = sum(not _TERMINAL.search(ln[-1:]) for ln in lines)
    return short >= 0.75 * len(lines) and open_end >= 0.5 * len(lines)


def _announced_count(text: str) -> str | None:
    m = _ANNOUNCED.search(text[:400])
    if m is None:
        return None
    raw = m.group(1).lower()
    wanted = int(raw) if raw.isdigit() else _NUMBERS[raw]
    items = [ln for ln in text[m.end() :].splitlines() if _LIST_ITEM.match(ln) and not ln.lstrip().startswith("|")]
    if 0 < len(items) < wanted:
        return f"announces {wanted} items ({m.group(0)[:40]!r}) but lists {len(items)}"
    return None


def _last_line(text: str, min_words: int, min_total_words: int) -> str | None:
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    last = lines[-1]
    tail = last.rstrip("*_`~ ")
    if _EMPTY_ITEM.match(last):
        return f"ends with an empty list item {last.strip()!r}"
    if _HEADING.match(last) and len(lines) > 1:
        return f"ends with a heading and nothing under it: {last.strip()[:40]!r}"
    if last.count("**") % 2 == 1:
        return "ends inside unclosed **bold**"
    if tail and tail[-1] in _DANGLING:
        return f"ends with {tail[-1]!r}: ...{last[-40:]!r}"
    verse = _is_verse(lines)
    ws = WORD.findall(tail.lower())
    if verse or not ws or _CODE_LIKE.search(last) or _URL_END.search(tail):
        return None
    if ws[-1] in _CONNECTORS and tail[-1].isalpha() and len(ws) >= 3:
        return f"ends on {ws[-1]!r}: ...{last[-40:]!r}"
    if _LIST_ITEM.match(last) or not tail[-1].isalnum():
        return None
    sentence = _TERMINAL.split(tail)[-1]
    n = len(sentence.split())
    if n >= min_words and len(text.split()) >= min_total_words:
        return f"last sentence ({n} words) has no closing punctuation: ...{last[-40:]!r}"
    return None


def cut_off(response: str, min_words: int = 6, min_total_words: int = 15) -> str | None:
    """What shows the response was cut off, or None."""
    text = response.rstrip()
    if not text:
        return None
    fences = len(re.findall(r"^\s*```", text, re.MULTILINE))
    if fences % 2 == 1:
        return f"unclosed code block ({fences} ``` fences)"
    prose = without_code(text).rstrip()
    if not prose:
        return None
    if text.endswith("```"):
        return _announced_count(prose)
    return _last_line(prose, min_words, min_total_words) or _announced_count(prose)
