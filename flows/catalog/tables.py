"""Small in-memory tables the catalog builds from JSON: `versions` (manifests) and `trainings`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows.catalog.scan import VersionScan

STAGE = pa.struct(
    [
        ("name", pa.string()),
        ("rows_in", pa.int64()),
        ("rows_out", pa.int64()),
        ("rejected", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("seconds", pa.float64()),
    ]
)
VERSIONS_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("version", pa.int32()),
        ("rows", pa.int64()),
        ("rejects", pa.int64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("run_id", pa.string()),
        ("code_version", pa.string()),
        ("parents", pa.list_(pa.string())),
        ("config_hash", pa.string()),
        ("config", pa.string()),
        ("stages", pa.list_(STAGE)),
        ("path", pa.string()),
        ("problem", pa.string()),
        ("stopped", pa.string()),  # 'budget' / 'interrupted' / null: the run finished
        ("prompt_tokens", pa.int64()),  # over every stage that made the rows (the ledger)
        ("completion_tokens", pa.int64()),
        ("cost_usd", pa.float64()),  # null unless every model stage's engine has `prices`
    ]
)


def config_hash(config: Any) -> str:
    """SHA-256 (first 16 hex digits) of the config as canonical JSON: equal configs, equal hashes."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def version_record(scan: VersionScan) -> dict[str, Any]:
    m = scan.manifest
    stages = [{k: s.get(k) for k in STAGE.names} for s in m.get("stages") or [] if isinstance(s, dict)]
    return {
        "name": scan.name,
        "version": scan.number,
        "rows": m.get("rows"),
        "rejects": m.get("rejects"),
        "created_at": _timestamp(m.get("created_at")),
        "run_id": m.get("run_id"),
        "code_version": m.get("code_version"),
        "parents": m.get("parent_versions") or [],
        "config_hash": config_hash(m["config"]) if "config" in m else None,
        "config": json.dumps(m["config"], sort_keys=True, default=str) if "config" in m else None,
        "stages": stages,
        "path": str(scan.path),
        "problem": scan.problem,
        **_ledger_columns(m, stages),
    }


def _ledger_columns(m: dict[str, Any], stages: list[dict[str, Any]]) -> dict[str, Any]:
    """The ledger's totals; a manifest from before the ledger: the stages' tokens, no cost."""
    ledger = m.get("ledger") if isinstance(m.get("ledger"), dict) else {}
    tokens = {}
    for k in ("prompt_tokens", "completion_tokens"):
        tokens[k] = _number(ledger.get(k, sum(_number(s.get(k), int) or 0 for s in stages)), int)
    stopped = m.get("stopped")
    return {
        "stopped": stopped if isinstance(stopped, str) else None,
        **tokens,
        "cost_usd": _number(ledger.get("cost_usd"), float),
    }


def _number(value: Any, kind: type) -> Any:
    """`value` as an int / float, or None when it is missing or not a number (a damaged manifest)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


def versions_table(scans: list[VersionScan]) -> pa.Table:
    """One row per dataset version, corrupt ones included with `problem` set and what could be read."""
    return pa.Table.from_pylist([version_record(s) for s in scans], schema=VERSIONS_SCHEMA)


def trainings_table(files: list[Path], warn: Callable[[str], None]) -> pa.Table:
    """One row per training record (flows/train.py); columns are the union of the records' keys."""
    records = []
    for path in files:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            warn(f"training record {path} left out of `trainings`: unreadable ({type(err).__name__})")
            continue
        if not isinstance(record, dict):
            warn(f"training record {path} left out of `trainings`: not a JSON object")
            continue
        if isinstance(record.get("created_at"), str):
            record["created_at"] = _timestamp(record["created_at"])
        records.append(record)
    if not records:
        return pa.table({"dataset": pa.array([], pa.string()), "checkpoint": pa.array([], pa.string())})
    return pa.Table.from_struct_array(pa.array(records))  # infers the union of keys, nested ones too
