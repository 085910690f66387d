"""Text normalization shared by dedup (filters/dedup) and persona ids (generators/personas/):
Unicode NFKC, lowercase, each Han / Hiragana / Katakana / Thai character made a word of its own,
every run of characters that are not letters, digits or combining marks replaced by one space,
trimmed. Change `NORMALIZATION` (schemas/dedup_config.py) when this changes: persisted dedup
indexes store it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def normalize(texts: pa.Array) -> pa.Array:
    """See the module docstring. Vectorized (Arrow compute, RE2 with Unicode classes)."""
    out = pc.utf8_lower(pc.utf8_normalize(texts, "NFKC"))
    out = pc.replace_substring_regex(out, r"([\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}])", r" \1 ")
    out = pc.replace_substring_regex(out, r"[^\p{L}\p{N}\p{M}]+", " ")
    return pc.utf8_trim_whitespace(out)


def normalize_text(text: str) -> str:
    return normalize(pa.array([text], pa.string()))[0].as_py()
