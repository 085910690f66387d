"""Where eval results live: <root>/<dataset>/evals/<eval_id>.parquet (one row per model x metric) and
<root>/<dataset>/evals/items/<eval_id>.parquet (one row per model x metric x suite item, with the
generated text). Files are written under a hidden temp name, then renamed. The catalog's `evals` view
reads every committed metrics file (flows/catalog/views.py); the card's "What it teaches" section
(flows/report/teaches.py) reads the newest. `synthloom eval` (flows/evals/) writes them. pyarrow only.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

EVALS = "evals"
ITEMS = "items"
SCORED = ("ref_nll", "ref_margin", "if_pass", "clean_rate")  # per item, base / tuned / delta (flows/evals/)
METRICS = (*SCORED, "judge_winrate")
LOWER_IS_BETTER = {"ref_nll"}

EVAL_SCHEMA = pa.schema(
    [
        ("eval_id", pa.string()),
        ("dataset", pa.string()),  # NAME@vN
        ("dataset_name", pa.string()),
        ("version", pa.int64()),
        ("base", pa.string()),  # as configured: 'embedded' or a folder
        ("suite", pa.string()),
        ("suite_hash", pa.string()),
        ("train_config", pa.string()),  # JSON of the TrainConfig used
        ("training_id", pa.string()),  # the `trainings` record of the fine-tune
        ("train_rows", pa.int64()),
        ("model", pa.string()),  # base | tuned | delta (tuned - base, paired by item) | train
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("n", pa.int64()),
        ("seconds", pa.float64()),
        ("note", pa.string()),  # why a value is missing, or that it came from cache
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)
ITEM_SCHEMA = pa.schema(
    [
        ("eval_id", pa.string()),
        ("model", pa.string()),
        ("metric", pa.string()),
        ("item_id", pa.string()),
        ("value", pa.float64()),
        ("output", pa.string()),
    ]
)


def evals_dir(root: Path | str, dataset: str) -> Path:
    return Path(root) / dataset / EVALS


def eval_files(root: Path | str, dataset: str = "*") -> list[Path]:
    """Committed metrics files (hidden temp files are not yet committed)."""
    return sorted(p for p in Path(root).glob(f"{dataset}/{EVALS}/*.parquet") if not p.name.startswith("."))


def _write(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def write_eval(root: Path | str, dataset: str, eval_id: str, metrics: pa.Table, items: pa.Table) -> Path:
    """Items first, then the metrics file: a metrics file always has its items beside it."""
    folder = evals_dir(root, dataset)
    _write(items.cast(ITEM_SCHEMA), folder / ITEMS / f"{eval_id}.parquet")
    return _write(metrics.cast(EVAL_SCHEMA), folder / f"{eval_id}.parquet")


def read_evals(root: Path | str, dataset: str = "*") -> pa.Table:
    files = eval_files(root, dataset)
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else EVAL_SCHEMA.empty_table()


def latest_eval(root: Path | str, ref: str, suite_hash: str | None = None) -> pa.Table | None:
    """The metric rows of the newest eval of dataset version `ref` (NAME@vN), optionally on one suite."""
    name = ref.split("@", 1)[0]
    rows = [r for r in read_evals(root, name).to_pylist() if r["dataset"] == ref]
    if suite_hash is not None:
        rows = [r for r in rows if r["suite_hash"] == suite_hash]
    if not rows:
        return None
    newest = max(rows, key=lambda r: r["created_at"])["eval_id"]
    return pa.Table.from_pylist([r for r in rows if r["eval_id"] == newest], schema=EVAL_SCHEMA)


def item_values(root: Path | str, dataset: str, eval_id: str, model: str, metric: str) -> dict[str, float]:
    path = evals_dir(root, dataset) / ITEMS / f"{eval_id}.parquet"
    rows = pq.read_table(path).to_pylist() if path.is_file() else []
    return {r["item_id"]: r["value"] for r in rows if r["model"] == model and r["metric"] == metric}
