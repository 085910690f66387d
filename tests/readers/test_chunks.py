import itertools
from pathlib import Path

import pytest

from readers.chunks import as_token_spans, boundary_rank, chunk_document, whitespace_spans
from readers.documents import Document, make_document

ROOT = Path(__file__).resolve().parents[2]

PARAGRAPHS = [" ".join(f"p{p}w{i}" for i in range(20)) + "." for p in range(6)]  # six paragraphs of 20 words each


def doc(text: str) -> Document:
    return make_document("mem", text)


def check_chunks(d: Document, chunks, max_tokens: int, overlap: int) -> None:
    for c in chunks:
        assert d.text[c.start : c.end] == c.text and c.doc_id == d.id
        assert c.n_tokens == len(whitespace_spans(c.text)) <= max_tokens
    for a, b in itertools.pairwise(chunks):
        shared = len(whitespace_spans(d.text[b.start : a.end])) if b.start < a.end else 0
        assert shared <= overlap and b.end > a.end
    words = set(d.text.split())
    assert words == {w for c in chunks for w in c.text.split()}  # nothing lost


@pytest.mark.parametrize(("max_tokens", "overlap"), [(7, 0), (7, 3), (25, 5), (50, 10), (1000, 10)])
def test_chunks_map_back_respect_limits_and_overlap(max_tokens: int, overlap: int):
    d = doc("\n\n".join(PARAGRAPHS))
    chunks = chunk_document(d, None, max_tokens, overlap)
    check_chunks(d, chunks, max_tokens, overlap)
    if max_tokens >= 120:
        assert len(chunks) == 1 and chunks[0].text == d.text


def test_chunks_prefer_paragraph_ends_near_the_limit():
    d = doc("\n\n".join(PARAGRAPHS))
    chunks = chunk_document(d, None, 45, 0)
    assert [c.text.endswith(".") for c in chunks] == [True] * len(chunks)
    assert [c.n_tokens for c in chunks] == [40, 40, 40]


def test_overlap_is_exact_with_a_word_tokenizer():
    d = doc(" ".join(f"w{i}" for i in range(100)))
    chunks = chunk_document(d, str.split, 30, 10)
    assert [c.text.split()[0] for c in chunks] == ["w0", "w20", "w40", "w60", "w80"][: len(chunks)]
    check_chunks(d, chunks, 30, 10)


def test_boundary_ranks():
    text = "One. Two\nthree four\n\n## Head\n\nBody"
    assert boundary_rank(text, text.index("Two")) == 3
    assert boundary_rank(text, text.index("three")) == 2
    assert boundary_rank(text, text.index("## Head")) == 4
    assert boundary_rank(text, text.index("Body")) == 2  # not right after a heading
    assert boundary_rank(text, text.index("our")) == 0


def test_tokenizer_adapters():
    text = "ab cd\n\nefg"
    assert as_token_spans(None)(text) == [(0, 2), (3, 5), (7, 10)]
    # a callable returning ids: each word's characters are shared among its tokens
    assert as_token_spans(lambda s: [ord(ch) for ch in s])(text) == [
        (0, 1),
        (1, 2),
        (3, 4),
        (4, 5),
        (7, 8),
        (8, 9),
        (9, 10),
    ]
    # a callable returning spans is used as-is
    assert as_token_spans(lambda s: [(0, 5), (7, 10)])(text) == [(0, 5), (7, 10)]

    class FastHF:  # the transformers fast-tokenizer surface chunking uses
        is_fast = True

        def encode(self, s, add_special_tokens=False):
            return [1]

        def __call__(self, s, add_special_tokens=False, return_offsets_mapping=False):
            assert return_offsets_mapping and not add_special_tokens
            return {"input_ids": [1, 2], "offset_mapping": [[0, 2], [2, 5]]}

    assert as_token_spans(FastHF())(text) == [(0, 2), (2, 5)]


@pytest.mark.integration  # the embedded_dir fixture converts the model once if needed
def test_chunks_with_a_real_bpe_tokenizer(embedded_dir):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(embedded_dir) / "tokenizer.json"))
    text = (ROOT / "data/seeds/corpus/tides.md").read_text(encoding="utf-8")
    d = doc(text)
    chunks = chunk_document(d, tok, 120, 20)
    assert len(chunks) > 3
    for c in chunks:
        assert d.text[c.start : c.end] == c.text
        assert len(tok.encode(c.text, add_special_tokens=False).ids) <= 120 + 2  # BPE edges may merge differently
    assert chunks[0].text.startswith("# How Tides Work") and chunks[-1].text.endswith("generate electricity.")


def test_chunking_rejects_bad_limits():
    with pytest.raises(ValueError, match="overlap_tokens"):
        chunk_document(doc("a b c"), None, 4, 4)
    assert chunk_document(doc("   \n "), None, 4, 0) == []
