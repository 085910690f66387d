"""Reading files someone else wrote, a batch of records at a time, without losing a record.

Formats: `.jsonl` (also `.ndjson`), `.json` (an array of objects, or JSON lines), `.parquet`, `.csv`,
and a folder written by HF `datasets.save_to_disk`. Parquet and `save_to_disk` folders are read by
pyarrow / `datasets` themselves. Text formats are decoded a record at a time, so one bad line (not
UTF-8, not JSON, the wrong number of CSV fields) becomes a `BadRecord` with its raw text and line
number instead of failing the file; the stdlib `json` and `csv` parsers do the parsing.
"""

from __future__ import annotations

import csv
import glob
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from schemas.errors import DatasetError

BATCH = 10_000
TEXT_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv"}
SUFFIXES = TEXT_SUFFIXES | {".parquet"}
RAW_KEEP = 4_000  # characters of a bad record's raw text kept in its reject


@dataclass(frozen=True)
class BadRecord:
    row: int  # 0-based record number in its file (a line number for text formats)
    reason: str  # not_utf8 | bad_json | not_an_object | bad_csv_row
    detail: str
    raw: str


@dataclass(frozen=True)
class Records:
    """A batch of records from one file: dicts with their 0-based row numbers."""

    start: int
    rows: list[dict[str, Any]]


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "dataset_info.json").is_file() and (path / "state.json").is_file()


def discover(paths: list[str]) -> list[Path]:
    """Files to import: each path, glob and folder (recursively: files with a known suffix, and
    `save_to_disk` folders as one unit), in sorted order, each once. A path that matches nothing
    is an error naming it."""
    found: list[Path] = []
    for spec in paths:
        matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))] or [Path(spec)]
        hits: list[Path] = []
        for m in matches:
            if is_hf_folder(m) or (m.is_file() and m.suffix.lower() in SUFFIXES):
                hits.append(m)
            elif m.is_dir():
                hits += _walk(m)
            elif m.is_file():
                raise DatasetError(f"{m}: unknown format {m.suffix!r}; import reads {', '.join(sorted(SUFFIXES))}")
        if not hits:
            raise DatasetError(f"{spec}: no such file, or no importable file in it ({', '.join(sorted(SUFFIXES))})")
        found += hits
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def _walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    for p in sorted(folder.iterdir()):
        if is_hf_folder(p):
            out.append(p)
        elif p.is_dir():
            out += _walk(p)
        elif p.suffix.lower() in SUFFIXES:
            out.append(p)
    return out


def read(path: Path) -> Iterator[Records | BadRecord]:
    """The file's records in batches, and its bad records, in file order."""
    if is_hf_folder(path):
        yield from _arrow_batches(_hf_batches(path))
    elif path.suffix.lower() == ".parquet":
        yield from _arrow_batches(_parquet_batches(path))
    elif path.suffix.lower() == ".csv":
        yield from _csv(path)
    elif path.suffix.lower() == ".json" and _starts_with_array(path):
        yield from _json_array(path)
    else:
        yield from _json_lines(path)


def _arrow_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[Records]:
    start = 0
    for batch in batches:
        yield Records(start, batch.to_pylist())
        start += batch.num_rows


def _parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path, pre_buffer=False) as f:
        yield from f.iter_batches(batch_size=BATCH)


def _hf_batches(path: Path) -> Iterator[pa.RecordBatch]:
    from datasets import load_from_disk

    ds = load_from_disk(str(path))
    if hasattr(ds, "keys"):  # a DatasetDict: every split, in name order
        for split in sorted(ds.keys()):
            yield from ds[split].data.table.to_batches(max_chunksize=BATCH)
    else:
        yield from ds.data.table.to_batches(max_chunksize=BATCH)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as fh:
        yield from enumerate(fh)


def _decode(n: int, raw: bytes) -> str | BadRecord:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        text = raw.decode("utf-8", errors="replace")
        return BadRecord(n, "not_utf8", f"line {n + 1}: {err.reason} at byte {err.start}", text[:RAW_KEEP])


def _json_lines(path: Path) -> Iterator[Records | BadRecord]:
    batch: list[dict[str, Any]] = []
    start = 0
    for n, raw in _lines(path):
        text = _decode(n, raw)
        if isinstance(text, BadRecord):
            yield text
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            yield BadRecord(n, "bad_json", f"line {n + 1}: {err.msg} at column {err.colno}", text[:RAW_KEEP])
            continue
        if not isinstance(value, dict):
            yield BadRecord(n, "not_an_object", f"line {n + 1}: a JSON {type(value).__name__}", text[:RAW_KEEP])
            continue
        if not batch:
            start = n
        batch.append({**value, "__row": n})
        if len(batch) >= BATCH:
            yield Records(start, batch)
            batch = []
    if batch:
        yield Records(start, batch)


def _starts_with_array(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _json_array(path: Path) -> Iterator[Records | BadRecord]:
    """A JSON array of objects (read whole: such files are as big as their parse)."""
    raw = path.read_bytes()
    try:
        values = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        yield BadRecord(0, "bad_json", f"{path.name}: {err}", raw[:RAW_KEEP].decode("utf-8", errors="replace"))
        return
    batch: list[dict[str, Any]] = []
    for n, value in enumerate(values if isinstance(values, list) else [values]):
        if not isinstance(value, dict):
            detail = f"item {n}: a JSON {type(value).__name__}"
            yield BadRecord(n, "not_an_object", detail, json.dumps(value)[:RAW_KEEP])
            continue
        batch.append({**value, "__row": n})
        if len(batch) >= BATCH:
            yield Records(batch[0]["__row"], batch)
            batch = []
    if batch:
        yield Records(batch[0]["__row"], batch)


def _csv(path: Path) -> Iterator[Records | BadRecord]:
    """CSV with a header row; a record is one line here (fields with newlines inside quotes are read
    by the csv module whole, and numbered by their first line)."""
    lines = _lines(path)
    header: list[str] | None = None
    batch: list[dict[str, Any]] = []
    for n, raw in lines:
        text = _decode(n, raw)
        if isinstance(text, BadRecord):
            yield text
            continue
        while text.count('"') % 2 == 1:  # a quoted field goes on: take the next line too
            nxt = next(lines, None)
            if nxt is None:
                break
            more = _decode(*nxt)
            text += more.raw if isinstance(more, BadRecord) else more
        if not text.strip():
            continue
        fields = next(csv.reader(io.StringIO(text)), [])
        if header is None:
            header = fields
            continue
        if len(fields) != len(header):
            detail = f"line {n + 1}: {len(fields)} fields, the header has {len(header)}"
            yield BadRecord(n, "bad_csv_row", detail, text[:RAW_KEEP])
            continue
        batch.append({**dict(zip(header, fields, strict=True)), "__row": n})
        if len(batch) >= BATCH:
            yield Records(batch[0]["__row"], batch)
            batch = []
    if batch:
        yield Records(batch[0]["__row"], batch)
