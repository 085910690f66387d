"""Text broken on its way through a decoder: U+FFFD replacement characters, control characters, and
mojibake (UTF-8 bytes read as Latin-1 / Windows-1252: "cafÃ©", "donâ€™t"). A model trained on it
learns to write it. A marker the instruction also holds is not counted (the user asked about it)."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")  # not \t \n \f \r
# A UTF-8 lead byte read as Latin-1 / cp1252 (Â Ã â ...) followed by what a continuation byte becomes.
_CP1252_HIGH = "\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d\u2018\u2019\u201c\u201d"
_CP1252_HIGH += "\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"
_MOJIBAKE = re.compile(f"[\u00c2\u00c3\u00c5\u00c6\u00e2][\u00a0-\u00bf{_CP1252_HIGH}]")
MOJIBAKE_MIN = 2  # one pair can be real text ("Â°" in a table of units); two are not


def garbled(text: str, instruction: str = "") -> str | None:
    """What is broken in `text` (replacement characters, control characters, mojibake), or None."""
    if "\ufffd" in text and "\ufffd" not in instruction:
        return f"{text.count(chr(0xFFFD))} U+FFFD replacement character(s): text lost in decoding"
    if (found := _CONTROL.search(text)) and found.group() not in instruction:
        return f"control character U+{ord(found.group()):04X} at offset {found.start()}"
    pairs = [m for m in _MOJIBAKE.findall(text) if m not in instruction]
    if len(pairs) >= MOJIBAKE_MIN:
        return f"mojibake (UTF-8 read as Latin-1/cp1252): {len(pairs)} sequences like {pairs[0]!r}"
    return None
