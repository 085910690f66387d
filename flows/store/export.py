"""Export a published version in formats trainers read directly.

- chat-jsonl: one {"messages": [{"role", "content"}, ...]} per line (TRL / most SFT trainers);
  DPO tables give {"prompt", "chosen", "rejected"} per line.
- sharegpt:  one {"conversations": [{"from": "system"|"human"|"gpt", "value"}, ...]} per line.
- hf:        a `datasets` folder (save_to_disk), loadable with `datasets.load_from_disk`.
Written to a temp path and renamed, so a crash never leaves a half-written export.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows.store import Version
from schemas.errors import DatasetError

FORMATS = ("chat-jsonl", "sharegpt", "hf")
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def _records(table: pa.Table, fmt: str) -> Iterator[dict[str, Any]]:
    names = set(table.column_names)
    for row in table.to_pylist():
        if {"prompt", "chosen", "rejected"} <= names:
            yield {k: row[k] for k in ("prompt", "chosen", "rejected")}
        elif "messages" in names:
            msgs = row["messages"]
            if fmt == "sharegpt":
                yield {"conversations": [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in msgs]}
            else:
                yield {"messages": msgs}
        else:
            raise DatasetError(
                f"cannot export columns {sorted(names)} as {fmt}: need `messages` or prompt/chosen/rejected"
            )


def export_version(version: Version, fmt: str, output: Path) -> int:
    """Write `version`'s rows to `output` in `fmt`; returns the row count."""
    if fmt not in FORMATS:
        raise DatasetError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if output.exists():
        raise DatasetError(f"{output} exists; choose a new path (exports never overwrite)")
    table = version.read()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".tmp-{uuid.uuid4().hex}-{output.name}"
    try:
        if fmt == "hf":
            import datasets

            datasets.Dataset(table).save_to_disk(str(tmp))
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                for record in _records(table, fmt):
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.rename(tmp, output)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return table.num_rows
