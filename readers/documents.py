"""Reading the documents a run starts from: files, globs and folders of .txt, .md, .jsonl, .parquet.

    docs, skipped = read_documents(["notes/", "more/*.jsonl"], ReadOptions(text_field="body"))

Nothing a user points at crashes the reader: every input it cannot use becomes a `Skipped(source,
reason, detail)`, and `skipped_rejects` turns those into REJECT_SCHEMA rows (stage "read") so they
land in the rejects table next to the generator's own rejects. Only "nothing usable at all" is an
error (`DatasetError`), because a run over zero documents is always a mistake.

Reasons: missing, no_match, not_a_file, unsupported_type, unreadable, too_large, binary, not_utf8,
empty, line_too_long, malformed_json, not_an_object, missing_field, not_text, missing_column,
bad_parquet, duplicate_document.

`Document.source` is the path, plus `#N` for one record of a file: the 1-based line of a .jsonl
file, the 0-based row of a .parquet file.
"""

from __future__ import annotations

import glob
import json
import os
import stat
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from schemas.config import Frozen
from schemas.errors import DatasetError
from schemas.manifest import StageStats
from schemas.result import rejects_table
from schemas.rows import RejectRow, content_id
from schemas.stage import lineage

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = (*TEXT_SUFFIXES, ".jsonl", ".parquet")
BINARY_SNIFF_BYTES = 8192
RAW_TEXT_LIMIT = 2000  # characters of a bad input kept in its reject row


class ReadOptions(Frozen):
    text_field: str = Field("text", description="the text key of each .jsonl object")
    text_column: str = Field("text", description="the text column of .parquet files")
    max_line_bytes: int = Field(1_000_000, ge=1, description="a longer single line marks the input as unusable")
    max_file_bytes: int = Field(256 * 1024 * 1024, ge=1, description="larger files are skipped unread")


@dataclass(frozen=True)
class Document:
    id: str  # content hash of the text
    source: str  # path, or path#N for one record of a .jsonl/.parquet file
    text: str


def documents_table(docs: Sequence[Document]) -> pa.Table:
    """Documents as Arrow rows (id, source, text): the input a from-text shard hands its stage."""
    return pa.table(
        {name: pa.array([getattr(d, name) for d in docs], pa.string()) for name in ("id", "source", "text")}
    )


def documents_of(table: pa.Table) -> list[Document]:
    return [Document(r["id"], r["source"], r["text"]) for r in table.select(["id", "source", "text"]).to_pylist()]


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str
    detail: str
    raw_text: str = ""


# -- pure checks -------------------------------------------------------------------------------


def make_document(source: str, text: str) -> Document:
    return Document(content_id("document", text), source, text)


def longest_line(data: bytes) -> int:
    return max(len(line) for line in data.split(b"\n"))


def check_bytes(data: bytes, opts: ReadOptions) -> tuple[str, str] | None:
    """(reason, detail) when raw file bytes cannot be text, else None."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return "binary", f"NUL byte in the first {BINARY_SNIFF_BYTES} bytes"
    longest = longest_line(data)
    if longest > opts.max_line_bytes:
        return "line_too_long", f"a line of {longest} bytes > max_line_bytes={opts.max_line_bytes}"
    return None


def decode(data: bytes) -> str | tuple[str, str]:
    """UTF-8 text (a leading BOM dropped), or (reason, detail)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return "not_utf8", f"invalid UTF-8 at byte {err.start}: {err.reason}"


def check_text(text: str, opts: ReadOptions) -> tuple[str, str] | None:
    """(reason, detail) when a decoded text is unusable as a document, else None."""
    if not text.strip():
        return "empty", "no text (empty or whitespace only)"
    longest = max(len(line.encode("utf-8")) for line in text.split("\n"))
    if longest > opts.max_line_bytes:
        return "line_too_long", f"a line of {longest} bytes > max_line_bytes={opts.max_line_bytes}"
    return None


# -- finding files -----------------------------------------------------------------------------


def _is_glob(ref: str) -> bool:
    return any(ch in ref for ch in "*?[")


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(SUFFIXES):
                yield Path(root) / name


def expand(ref: str) -> Iterator[Path | Skipped]:
    """The files one path/glob/folder names, or why it names none."""
    if _is_glob(ref):
        matches = sorted(glob.glob(ref, recursive=True))
        if not matches:
            yield Skipped(ref, "no_match", "the glob matches no path")
        for m in matches:
            path = Path(m)
            if path.is_dir():
                yield Skipped(m, "not_a_file", "a folder matched a file glob (name a folder to walk it)")
            elif path.suffix.lower() in SUFFIXES:
                yield path
        return
    path = Path(ref)
    if path.is_dir():
        yield from _walk(path)
    elif not os.path.lexists(path):
        yield Skipped(ref, "missing", "no such file or folder")
    elif path.suffix.lower() not in SUFFIXES:
        yield Skipped(ref, "unsupported_type", f"extension {path.suffix or '(none)'!r}; use one of {SUFFIXES}")
    else:
        yield path


# -- reading one file --------------------------------------------------------------------------


def file_problem(path: Path, opts: ReadOptions, whole: bool) -> Skipped | None:
    """Why `path` cannot be read (gone, not a regular file, too large to read whole), or None."""
    src = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        return Skipped(src, "missing", "no such file (removed while reading?)")
    except OSError as err:
        return Skipped(src, "unreadable", f"{type(err).__name__}: {err.strerror or err}")
    if not stat.S_ISREG(info.st_mode):
        return Skipped(src, "not_a_file", "not a regular file")
    if whole and info.st_size > opts.max_file_bytes:
        return Skipped(src, "too_large", f"{info.st_size} bytes > max_file_bytes={opts.max_file_bytes}")
    return None


def read_bytes(path: Path) -> bytes | Skipped:
    try:
        with path.open("rb") as fh:
            return fh.read()
    except OSError as err:
        return Skipped(str(path), "unreadable", f"{type(err).__name__}: {err.strerror or err}")


def read_text_file(path: Path, opts: ReadOptions) -> Iterator[Document | Skipped]:
    data = read_bytes(path)
    if isinstance(data, Skipped):
        yield data
        return
    src = str(path)
    bad = check_bytes(data, opts)
    text = decode(data) if bad is None else bad
    if isinstance(text, tuple):
        yield Skipped(src, *text, raw_text=_snippet(data))
        return
    bad = check_text(text, opts)
    yield make_document(src, text) if bad is None else Skipped(src, *bad)


def _snippet(data: bytes | str) -> str:
    if isinstance(data, bytes):
        data = data[: RAW_TEXT_LIMIT * 4].decode("utf-8", errors="replace")
    return data[:RAW_TEXT_LIMIT].replace("\x00", "\ufffd")


def read_jsonl_file(path: Path, opts: ReadOptions) -> Iterator[Document | Skipped]:
    data = read_bytes(path)
    if isinstance(data, Skipped):
        yield data
        return
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        yield Skipped(str(path), "binary", f"NUL byte in the first {BINARY_SNIFF_BYTES} bytes")
        return
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            yield jsonl_record(f"{path}#{lineno}", line, opts)


def jsonl_record(src: str, line: bytes, opts: ReadOptions) -> Document | Skipped:
    """One .jsonl line: a Document from its text field, or why not."""
    if len(line) > opts.max_line_bytes:
        return Skipped(src, "line_too_long", f"{len(line)} bytes > max_line_bytes={opts.max_line_bytes}")
    text = decode(line)
    if isinstance(text, tuple):
        return Skipped(src, *text, raw_text=_snippet(line))
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        return Skipped(src, "malformed_json", f"{err.msg} at char {err.pos}", _snippet(text))
    if not isinstance(obj, dict):
        return Skipped(src, "not_an_object", f"a JSON {type(obj).__name__}, not an object", _snippet(text))
    return _record_text(src, obj.get(opts.text_field), opts.text_field, sorted(obj), opts)


def _record_text(src: str, value: object, field: str, known: list[str], opts: ReadOptions) -> Document | Skipped:
    if value is None:
        return Skipped(src, "missing_field", f"no {field!r} value (has: {', '.join(map(str, known)) or 'nothing'})")
    if not isinstance(value, str):
        return Skipped(src, "not_text", f"{field!r} is a {type(value).__name__}, not a string", _snippet(str(value)))
    bad = check_text(value, opts)
    return make_document(src, value) if bad is None else Skipped(src, *bad, raw_text=_snippet(value))


def read_parquet_file(path: Path, opts: ReadOptions) -> Iterator[Document | Skipped]:
    src, col = str(path), opts.text_column
    try:
        schema = pq.read_schema(path)
        if col not in schema.names:
            yield Skipped(src, "missing_column", f"no column {col!r} (has: {', '.join(schema.names)})")
            return
        if not _is_text_type(schema.field(col).type):
            yield Skipped(src, "not_text", f"column {col!r} is {schema.field(col).type}, not a string")
            return
        values = pq.read_table(path, columns=[col]).column(col).to_pylist()
    except PermissionError as err:
        yield Skipped(src, "unreadable", f"PermissionError: {err.strerror or err}")
        return
    except (OSError, pa.ArrowException) as err:
        yield Skipped(src, "bad_parquet", f"{type(err).__name__}: {err}"[:500])
        return
    for row, value in enumerate(values):
        yield _record_text(f"{path}#{row}", value, col, [col], opts)


def _is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def read_file(path: Path, opts: ReadOptions) -> Iterator[Document | Skipped]:
    suffix = path.suffix.lower()
    problem = file_problem(path, opts, whole=suffix != ".parquet")
    if problem is not None:
        yield problem
    elif suffix == ".jsonl":
        yield from read_jsonl_file(path, opts)
    elif suffix == ".parquet":
        yield from read_parquet_file(path, opts)
    else:
        yield from read_text_file(path, opts)


# -- the reader --------------------------------------------------------------------------------


def iter_inputs(paths: Sequence[str], opts: ReadOptions) -> Iterator[Document | Skipped]:
    seen_files: set[str] = set()
    for ref in paths:
        for item in expand(str(ref)):
            if isinstance(item, Skipped):
                yield item
                continue
            key = os.path.realpath(item)
            if key not in seen_files:  # a file named twice (a folder and a glob) is read once
                seen_files.add(key)
                yield from read_file(item, opts)


def read_documents(
    paths: Sequence[str], options: ReadOptions | None = None, require_any: bool = True
) -> tuple[list[Document], list[Skipped]]:
    """All usable documents under `paths` and every input skipped, with why.

    Documents with the same text are kept once (later copies are skipped as duplicate_document).
    Raises DatasetError when `require_any` and no document is usable."""
    opts = options or ReadOptions()
    docs: dict[str, Document] = {}
    skipped: list[Skipped] = []
    for item in iter_inputs(paths, opts):
        if isinstance(item, Skipped):
            skipped.append(item)
        elif item.id in docs:
            skipped.append(Skipped(item.source, "duplicate_document", f"same text as {docs[item.id].source}"))
        else:
            docs[item.id] = item
    if require_any and not docs:
        raise DatasetError(no_documents_message(paths, skipped))
    return list(docs.values()), skipped


def no_documents_message(paths: Sequence[str], skipped: Sequence[Skipped]) -> str:
    if not paths:
        return "no input paths given: name .txt/.md/.jsonl/.parquet files, globs or folders"
    if not skipped:
        return f"no .txt/.md/.jsonl/.parquet files found under {', '.join(map(str, paths))}"
    counts = Counter(s.reason for s in skipped)
    summary = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    examples = "; ".join(f"{s.source}: {s.reason} ({s.detail})" for s in skipped[:3])
    where = ", ".join(map(str, paths))
    return f"no usable documents in {where}: {len(skipped)} inputs skipped ({summary}); e.g. {examples}"


# -- skipped inputs as rejects -----------------------------------------------------------------


def skipped_rejects(
    skipped: Sequence[Skipped], run_id: str, generator: str = "text_to_instructions", generator_version: str = "1"
) -> pa.Table:
    """REJECT_SCHEMA rows (stage "read") for inputs the reader skipped."""
    base = lineage(source_kind="text", generator=generator, generator_version=generator_version, run_id=run_id, seed=0)
    rows = [
        RejectRow(
            id=content_id("read", s.source, s.reason, s.detail, run_id),
            stage="read",
            reason=s.reason,
            detail=s.detail,
            raw_text=s.raw_text,
            record=json.dumps({"source": s.source}, ensure_ascii=False),
            **base,
        )
        for s in skipped
    ]
    return rejects_table(rows)


def read_stats(docs: Sequence[Document], skipped: Sequence[Skipped], seconds: float = 0.0) -> StageStats:
    """Units: inputs (a text file, or one record of a .jsonl/.parquet file, or a path that named nothing)."""
    return StageStats(
        name="read",
        rows_in=len(docs) + len(skipped),
        rows_out=len(docs),
        rejected=len(skipped),
        seconds=round(seconds, 3),
    )
