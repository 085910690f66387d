import itertools
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from generators.documents import (
    Document,
    ReadOptions,
    Skipped,
    as_token_spans,
    boundary_rank,
    chunk_document,
    make_document,
    read_documents,
    read_stats,
    skipped_rejects,
    whitespace_spans,
)
from schemas.errors import DatasetError
from schemas.rows import REJECT_SCHEMA

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    write(tmp_path / "a.txt", "Tides rise and fall twice a day.\n")
    write(tmp_path / "b.md", "# Bees\n\nA colony has a queen.\n")
    write(tmp_path / "c.jsonl", '{"text": "First record."}\n\n{"text": "Second record.", "id": 2}\n')
    pq.write_table(pa.table({"text": ["Row zero text.", "Row one text."]}), tmp_path / "d.parquet")
    return tmp_path


def reasons(skipped: list[Skipped]) -> list[str]:
    return sorted(s.reason for s in skipped)


def test_reads_every_supported_kind_from_a_folder(inputs: Path):
    docs, skipped = read_documents([str(inputs)])
    assert skipped == []
    by_source = {d.source: d.text for d in docs}
    assert by_source == {
        f"{inputs}/a.txt": "Tides rise and fall twice a day.\n",
        f"{inputs}/b.md": "# Bees\n\nA colony has a queen.\n",
        f"{inputs}/c.jsonl#1": "First record.",
        f"{inputs}/c.jsonl#3": "Second record.",
        f"{inputs}/d.parquet#0": "Row zero text.",
        f"{inputs}/d.parquet#1": "Row one text.",
    }
    assert all(d.id == make_document("x", d.text).id and len(d.id) == 32 for d in docs)


def test_globs_and_configurable_text_fields(tmp_path: Path):
    write(tmp_path / "x.jsonl", '{"body": "Body text."}\n')
    pq.write_table(pa.table({"content": ["Column text."]}), tmp_path / "y.parquet")
    docs, skipped = read_documents([str(tmp_path / "*")], ReadOptions(text_field="body", text_column="content"))
    assert sorted(d.text for d in docs) == ["Body text.", "Column text."] and skipped == []


def test_bad_inputs_are_skipped_with_reasons_never_raised(inputs: Path, tmp_path: Path):
    bad = tmp_path / "bad"
    write(bad / "binary.txt", b"PK\x03\x04\x00\x00 zip bytes")
    write(bad / "latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"))
    write(bad / "empty.md", "")
    write(bad / "blank.txt", "  \n\t\n")
    write(bad / "huge.txt", "short line\n" + "x" * 101 + "\n")
    write(bad / "rows.jsonl", '{"text": "ok line"}\n{"text": broken\n[1, 2]\n{"other": "x"}\n{"text": 5}\n')
    pq.write_table(pa.table({"body": ["no text column"]}), bad / "nocol.parquet")
    write(bad / "fake.parquet", b"not a parquet file")
    (bad / "folder.md").mkdir()  # a folder where a file is expected
    opts = ReadOptions(max_line_bytes=100)
    paths = [str(inputs / "a.txt"), str(bad), str(bad / "*.md"), str(tmp_path / "nope.txt"), str(tmp_path / "*.none")]
    docs, skipped = read_documents(paths, opts)
    assert sorted(d.text for d in docs) == ["Tides rise and fall twice a day.\n", "ok line"]
    assert reasons(skipped) == sorted(
        [
            "binary",
            "not_utf8",
            "empty",
            "empty",
            "line_too_long",
            "malformed_json",
            "not_an_object",
            "missing_field",
            "not_text",
            "missing_column",
            "bad_parquet",
            "not_a_file",
            "missing",
            "no_match",
        ]
    )
    by_reason = {s.reason: s for s in skipped}
    assert by_reason["malformed_json"].source == f"{bad}/rows.jsonl#2"
    assert by_reason["malformed_json"].raw_text == '{"text": broken'
    assert "101 bytes > max_line_bytes=100" in by_reason["line_too_long"].detail
    assert "has: body" in by_reason["missing_column"].detail
    assert by_reason["not_a_file"].source == f"{bad}/folder.md"


def test_explicit_unsupported_file_and_duplicates(tmp_path: Path):
    write(tmp_path / "one.txt", "Same text.")
    write(tmp_path / "two.md", "Same text.")
    write(tmp_path / "data.csv", "a,b")
    docs, skipped = read_documents([str(tmp_path / "one.txt"), str(tmp_path / "two.md"), str(tmp_path / "data.csv")])
    assert [d.source for d in docs] == [str(tmp_path / "one.txt")]
    assert reasons(skipped) == ["duplicate_document", "unsupported_type"]


def test_a_file_named_twice_is_read_once(inputs: Path):
    docs, skipped = read_documents([str(inputs / "a.txt"), str(inputs)])
    assert len(docs) == 6 and skipped == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_is_unreadable(tmp_path: Path):
    path = write(tmp_path / "secret.txt", "hidden")
    path.chmod(0)
    try:
        _, skipped = read_documents([str(path)], require_any=False)
    finally:
        path.chmod(0o644)
    assert reasons(skipped) == ["unreadable"]


def test_read_errors_are_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write(tmp_path / "secret.txt", "hidden")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    _, skipped = read_documents([str(path)], require_any=False)
    assert [(s.reason, s.detail) for s in skipped] == [("unreadable", "PermissionError: Permission denied")]


def test_special_files_are_not_read(tmp_path: Path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)  # reading it would block forever
    _, skipped = read_documents([str(fifo)], require_any=False)
    assert reasons(skipped) == ["not_a_file"]


def test_oversized_files_are_skipped_unread(tmp_path: Path):
    path = write(tmp_path / "big.txt", "word " * 100)
    _, skipped = read_documents([str(path)], ReadOptions(max_file_bytes=100), require_any=False)
    assert reasons(skipped) == ["too_large"]


def test_no_usable_documents_is_a_clear_error(tmp_path: Path):
    write(tmp_path / "empty.txt", "")
    write(tmp_path / "bin.md", b"\x00\x01")
    with pytest.raises(
        DatasetError, match=r"no usable documents .* 2 inputs skipped \((1 empty, 1 binary|1 binary, 1 empty)"
    ):
        read_documents([str(tmp_path)])
    (tmp_path / "sub").mkdir()
    with pytest.raises(DatasetError, match="no .txt/.md/.jsonl/.parquet files found"):
        read_documents([str(tmp_path / "sub")])
    with pytest.raises(DatasetError, match="no input paths"):
        read_documents([])


def test_skipped_inputs_become_reject_rows(tmp_path: Path):
    skipped = [Skipped("a.txt", "binary", "NUL byte"), Skipped("b.jsonl#3", "malformed_json", "bad", "{oops")]
    table = skipped_rejects(skipped, "run-7")
    assert table.schema == REJECT_SCHEMA
    rows = table.to_pylist()
    assert [r["stage"] for r in rows] == ["read", "read"]
    assert rows[1]["reason"] == "malformed_json" and rows[1]["raw_text"] == "{oops"
    assert json.loads(rows[1]["record"]) == {"source": "b.jsonl#3"} and rows[1]["run_id"] == "run-7"
    stats = read_stats([make_document("x", "text")], skipped)
    assert (stats.rows_in, stats.rows_out, stats.rejected) == (3, 1, 2)
    stats.check()


# -- chunking ------------------------------------------------------------------------------------

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
