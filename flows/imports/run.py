"""`synthloom import`: files someone else wrote -> one published version, streamed in record batches.

Every input record ends as a row or a reject (reason + raw record), never dropped: unreadable
lines, records with no conversation (`no_text`), records over `max_row_bytes` (`too_large`),
repeats of a conversation already imported in this run (`duplicate`). Rows carry lineage
(`source_file`, `source_row`) and an `id` from their conversation; the manifest lists each file
(path, size, SHA-256, rows read), and a run key from the files' content and the mapping, so a
second import of the same files says "already published" instead of publishing again.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows.imports.mapping import Mapping, NoText, first_turns
from flows.imports.readers import BadRecord, Records, discover, read
from flows.imports.tables import RowSpills
from flows.report import write_card
from flows.run.checkpoints import cache_key
from flows.store import DatasetStore, Version
from flows.store.publish import publish_version
from flows.store.spill import Spill
from flows.store.tempdirs import scratch_dir
from schemas.errors import DatasetError
from schemas.manifest import StageStats
from schemas.rows import REJECT_SCHEMA, content_id, utc_now

VERSION = "1"
STAGE = "import"


@dataclass
class FileReport:
    path: str
    size: int
    sha256: str
    rows: int = 0  # records read (kept + rejected)
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)

    def entry(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "rows": self.rows, "kept": self.kept}


@dataclass(frozen=True)
class ImportResult:
    version: Version
    already_published: bool
    files: list[dict[str, Any]]


def import_files(
    store: DatasetStore, paths: list[str], dataset: str, mapping: Mapping, max_row_bytes: int = 1 << 20
) -> ImportResult:
    files = discover(paths)
    reports = [FileReport(str(p), *_size_and_digest(p)) for p in files]
    key = cache_key(STAGE, VERSION, sorted(r.sha256 for r in reports), mapping.explicit, max_row_bytes)
    for v in reversed(store.versions(dataset)):
        if v.manifest().config.get("run_key") == key:
            return ImportResult(v, True, v.manifest().config.get("files", []))
    run_id = f"import-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    (store.root / dataset).mkdir(parents=True, exist_ok=True)
    with scratch_dir(store.root / dataset) as scratch:
        rows, rejects = RowSpills(scratch), Spill(scratch / "rejects.arrow", REJECT_SCHEMA)
        importer = _Importer(mapping, max_row_bytes, run_id, rows, rejects)
        for path, report in zip(files, reports, strict=True):
            importer.file(path, report)
        total = sum(r.rows for r in reports)
        stats = StageStats(
            name=STAGE,
            rows_in=total,
            rows_out=rows.num_rows,
            rejected=rejects.num_rows,
            seconds=round(time.perf_counter() - started, 3),
        )
        config = {
            "kind": "import",
            "run_key": key,
            "files": [r.entry() for r in reports],
            "map": dict(mapping.explicit),
            "max_row_bytes": max_row_bytes,
        }
        version = publish_version(store, dataset, rows.concat(), [rejects], [stats], config, run_id, card=write_card)
    return ImportResult(version, False, config["files"])


def _size_and_digest(path: Path) -> tuple[int, str]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    size = 0
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
                size += len(block)
    return size, h.hexdigest()


class _Importer:
    """Turns one file's records into row batches and rejects."""

    def __init__(self, mapping: Mapping, max_row_bytes: int, run_id: str, rows: RowSpills, rejects: Spill):
        self.mapping, self.max_row_bytes, self.run_id = mapping, max_row_bytes, run_id
        self.rows, self.rejects = rows, rejects
        self.seen: dict[str, str] = {}  # id -> "file:row" of the first row with that conversation
        self.pending: list[dict[str, Any]] = []  # rejects not yet written to the spill
        self.created = utc_now()

    def file(self, path: Path, report: FileReport) -> None:
        try:
            for item in read(path):
                if isinstance(item, BadRecord):
                    report.rows += 1
                    self._reject(report, item.row, item.reason, item.detail, item.raw)
                else:
                    self._records(path, report, item)
        except Exception as err:  # a corrupt Parquet, a folder datasets cannot load: the file itself
            self._reject(report, -1, "unreadable_file", f"{type(err).__name__}: {err}"[:500], str(path))
        self._flush()
        if report.kept == 0:
            why = ", ".join(f"{n} {r}" for r, n in report.reasons.most_common()) or "no records"
            raise DatasetError(
                f"{path}: no usable row ({why}); nothing was published. Check the file, or name its "
                "columns with --map instruction=COL,response=COL"
            )

    def _records(self, path: Path, report: FileReport, batch: Records) -> None:
        out: list[dict[str, Any]] = []
        for i, record in enumerate(batch.rows):
            row_no = record.pop("__row", batch.start + i)
            report.rows += 1
            row = self._row(path, report, row_no, record)
            if row is not None:
                out.append(row)
        report.kept += len(out)
        self.rows.write(out)
        self._flush()

    def _row(self, path: Path, report: FileReport, row_no: int, record: dict[str, Any]) -> dict[str, Any] | None:
        raw = json.dumps(record, ensure_ascii=False, default=str)
        size = len(raw.encode("utf-8"))
        if size > self.max_row_bytes:
            self._reject(report, row_no, "too_large", f"{size} bytes > max_row_bytes={self.max_row_bytes}", raw)
            return None
        try:
            messages = self.mapping.messages(record)
        except NoText as err:
            self._reject(report, row_no, "no_text", str(err), raw)
            return None
        rid = content_id(STAGE, messages)
        where = f"{path.name}:{row_no}"
        if rid in self.seen:
            self._reject(report, row_no, "duplicate", f"the same conversation as {self.seen[rid]}", raw)
            return None
        self.seen[rid] = where
        instruction, response = first_turns(messages)
        used = self.mapping.used(record)
        extras = {k: v for k, v in record.items() if k not in used}
        return {
            **_lineage(self.run_id, self.created),
            "id": rid,
            "messages": messages,
            "instruction": instruction,
            "response": response,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "source_file": str(path),
            "source_row": row_no,
            "__extras": extras,
        }

    def _reject(self, report: FileReport, row_no: int, reason: str, detail: str, raw: str) -> None:
        report.reasons[reason] += 1
        rec = {"source_file": report.path, "source_row": row_no}
        row = {
            **_lineage(self.run_id, self.created),
            "id": content_id(STAGE, report.sha256, row_no, reason),
            "stage": STAGE,
            "reason": reason,
            "detail": f"{Path(report.path).name}: {detail}",
            "raw_text": raw[:20_000],
            "record": json.dumps(rec),
        }
        self.pending.append(row)
        if len(self.pending) >= 10_000:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.rejects.write(pa.Table.from_pylist(self.pending, schema=REJECT_SCHEMA))
            self.pending = []


def _lineage(run_id: str, created: Any) -> dict[str, Any]:
    return {
        "source_kind": "import",
        "generator": "import",
        "generator_version": VERSION,
        "model_id": "",
        "template_name": "",
        "template_hash": "",
        "sampling": "{}",
        "seed": 0,
        "run_id": run_id,
        "parent_ids": [],
        "created_at": created,
    }
