"""Cutting documents (readers/documents.py) into token chunks that map back to their text.

    chunks = chunk_documents(docs, engine.tokenizer, max_tokens=512, overlap_tokens=64)

A tokenizer is reduced to "the character span of each token" (`TokenSpans`), which is all chunking
needs: token counts for the limit, and character offsets so every chunk maps back to its document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from readers.documents import Document
from schemas.rows import content_id

TokenSpans = Callable[[str], list[tuple[int, int]]]
BOUNDARY_LOOKBACK = 0.25  # look for a paragraph/sentence end in the last quarter of a full chunk
_WORD = re.compile(r"\S+")
_CLOSERS = "\"')]»”’"


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    start: int  # char offsets into the document's text: doc.text[start:end] == text
    end: int
    text: str
    source: str = ""  # the document's source
    n_tokens: int = 0


def whitespace_spans(text: str) -> list[tuple[int, int]]:
    """One token per whitespace-separated word: the fallback when no tokenizer is at hand."""
    return [m.span() for m in _WORD.finditer(text)]


def spans_from_ids(encode: Callable[[str], Sequence[Any]]) -> TokenSpans:
    """Spans from a tokenizer that only returns token ids: each word is encoded alone and its
    characters are shared evenly among its tokens (approximate at word edges)."""

    def spans(text: str) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for start, end in whitespace_spans(text):
            n = max(1, len(encode(text[start:end])))
            out += [(start + (end - start) * k // n, start + (end - start) * (k + 1) // n) for k in range(n)]
        return out

    return spans


def hf_spans(tokenizer: Any) -> TokenSpans:
    """Spans from a Hugging Face tokenizer: a fast `transformers` tokenizer (offset mapping), a
    `tokenizers.Tokenizer` (`encode(...).offsets`), or any `encode(text) -> ids` (approximate)."""
    if getattr(tokenizer, "is_fast", False):
        return lambda text: [
            tuple(o) for o in tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        ]
    probe = tokenizer.encode("a b", add_special_tokens=False)
    if hasattr(probe, "offsets"):
        return lambda text: [tuple(o) for o in tokenizer.encode(text, add_special_tokens=False).offsets]
    return spans_from_ids(lambda text: tokenizer.encode(text, add_special_tokens=False))


def as_token_spans(tokenizer: Any = None) -> TokenSpans:
    """Any tokenizer-ish thing as `TokenSpans`: None (whitespace words), a Hugging Face tokenizer
    (e.g. the vLLM engine's `engine.tokenizer`), or a callable returning token ids or (start, end) spans."""
    if tokenizer is None:
        return whitespace_spans
    if hasattr(tokenizer, "encode"):
        return hf_spans(tokenizer)
    if not callable(tokenizer):
        raise TypeError(f"not a tokenizer: {type(tokenizer).__name__}")

    def spans(text: str) -> list[tuple[int, int]]:
        out = list(tokenizer(text))
        if out and isinstance(out[0], tuple | list):
            return [(int(a), int(b)) for a, b in out]
        return spans_from_ids(tokenizer)(text)

    return spans


def boundary_rank(text: str, pos: int) -> int:
    """How good a cut at char `pos` is: 4 paragraph break, 3 sentence end, 2 line break (or a
    paragraph break right after a heading), 1 space, 0 mid-word."""
    lo = pos
    while lo > 0 and text[lo - 1].isspace():
        lo -= 1
    hi = pos
    while hi < len(text) and text[hi].isspace():
        hi += 1
    gap = text[lo:hi]
    if not gap:
        return 0
    if gap.count("\n") >= 2:
        line = text[text.rfind("\n", 0, lo) + 1 : lo]
        return 2 if line.lstrip().startswith("#") else 4  # don't end a chunk on a Markdown heading
    before = text[max(0, lo - 3) : lo].rstrip(_CLOSERS)
    if before.endswith((".", "!", "?", ":", ";")):
        return 3
    return 2 if "\n" in gap else 1


def _cut(text: str, spans: list[tuple[int, int]], i: int, max_tokens: int, min_end: int) -> int:
    """End token (exclusive) of the chunk starting at token i: the best boundary near the limit,
    and past `min_end - 1` so every chunk brings new text."""
    hard = min(i + max_tokens, len(spans))
    if hard == len(spans):
        return hard
    lo = max(i + 1, min_end, hard - max(1, int(max_tokens * BOUNDARY_LOOKBACK)))
    best, best_rank = hard, boundary_rank(text, spans[hard][0])
    for j in range(hard - 1, lo - 1, -1):
        rank = boundary_rank(text, spans[j][0])
        if rank > best_rank:
            best, best_rank = j, rank
    return best


def _next_start(text: str, spans: list[tuple[int, int]], i: int, j: int, overlap: int) -> int:
    """First token of the next chunk: at most `overlap` tokens back from j, at a word start if one is there."""
    if overlap == 0:
        return j
    first = max(i + 1, j - overlap)
    for k in range(first, j):
        if boundary_rank(text, spans[k][0]) >= 1:
            return k
    return first


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def chunk_document(doc: Document, tokenize: Any = None, max_tokens: int = 512, overlap_tokens: int = 64) -> list[Chunk]:
    """Split `doc` into chunks of at most `max_tokens` tokens, consecutive chunks sharing at most
    `overlap_tokens` tokens. Cuts prefer a paragraph, then a sentence, line or word boundary within
    the last quarter of the limit. `tokenize`: see `as_token_spans`."""
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError(
            f"need max_tokens >= 1 and 0 <= overlap_tokens < max_tokens, got {max_tokens}, {overlap_tokens}"
        )
    spans = as_token_spans(tokenize)(doc.text)
    chunks: list[Chunk] = []
    i = j = 0
    while i < len(spans):
        j = _cut(doc.text, spans, i, max_tokens, min_end=j + 1)
        start, end = _trimmed(doc.text, spans[i][0], spans[j - 1][1])
        if end > start:
            cid = content_id("chunk", doc.id, start, end)
            chunks.append(Chunk(cid, doc.id, start, end, doc.text[start:end], doc.source, j - i))
        if j == len(spans):
            break
        i = _next_start(doc.text, spans, i, j, overlap_tokens)
    return chunks


def chunk_documents(
    docs: Sequence[Document], tokenize: Any = None, max_tokens: int = 512, overlap_tokens: int = 64
) -> list[Chunk]:
    spans = as_token_spans(tokenize)
    return [c for d in docs for c in chunk_document(d, spans, max_tokens, overlap_tokens)]
