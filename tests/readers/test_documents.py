import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from readers.documents import ReadOptions, Skipped, make_document, read_documents, read_stats, skipped_rejects
from schemas.errors import DatasetError
from schemas.rows import REJECT_SCHEMA


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
