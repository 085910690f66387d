"""Dataset cards: a Markdown README plus a few PNG plots per published version, in <version>/card/.

The card is rendered into a temp dir beside it (`card.tmp-<host>-<pid>-<id>`) and renamed into place, so a
crash never leaves a half card. It depends only on the version's own files (no clock, sorted
everything), so regenerating a card gives the same bytes, except "What it teaches", which reads the
dataset's evals/ (flows/report/teaches.py; `synthloom eval` redraws the card). No Prefect here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flows.report.calibration import calibration_section
from flows.report.cost import cost_section
from flows.report.diversity import diversity_section
from flows.report.markdown import cell, table
from flows.report.teaches import teaches_section
from flows.store import Version
from flows.store.datasets import parquet_batches
from flows.store.tempdirs import temp_name
from schemas.manifest import Manifest

CARD_DIR = "card"
README = "README.md"
SCORE_COLUMN = "judge_quality"  # added by filters.judge.RubricJudge
SCORE_SCALE = (1, 2, 3, 4, 5)  # RubricVerdict.quality
CATEGORY_COLUMN = "judge_category"  # added by filters.judge.RubricJudge
# Text columns of the table shapes the store holds: SFT, DPO, personas, augmented corpus.
TEXT_COLUMNS = ("instruction", "response", "prompt", "chosen", "rejected", "persona", "text")
SAMPLE_CHARS = 300
MAX_BARS = 20
LABEL_CHARS = 34  # bar labels longer than this are cut, to fit the left margin
FIGSIZE = (6.0, 3.5)
DPI = 100

Reasons = list[tuple[str, str, int]]


def card_path(version: Version) -> Path | None:
    """The card's README, if one has been written."""
    path = version.path / CARD_DIR / README
    return path if path.is_file() else None


def write_card(version: Version, samples: int = 3) -> Path:
    """(Re)write <version>/card/ (README.md + PNGs); returns the README path."""
    final = version.path / CARD_DIR
    tmp = version.path / temp_name(f"{CARD_DIR}.tmp")  # owner in the name: a later publish cleans it up
    tmp.mkdir()
    try:
        _render(version, tmp, samples)
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / README


def _swap_in(tmp: Path, final: Path) -> None:
    """Move an old card aside, rename the new one in, then delete the old one."""
    old = final.with_name(f"{final.name}.old-{uuid.uuid4().hex}")
    with contextlib.suppress(FileNotFoundError):
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        shutil.rmtree(tmp)  # a concurrent write_card got there first, with the same card
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _render(version: Version, out: Path, samples: int) -> None:
    manifest = version.manifest()
    rows = _read_rows(version, samples)
    reasons = _reason_counts(pq.read_table(version.path / "rejects", columns=["stage", "reason"]))
    images = _plots(rows, reasons, out)
    lines = [
        *_header(version, manifest),
        *_stages_section(manifest),
        *cost_section(manifest),
        *_rejects_section(reasons, images),
        *calibration_section(manifest.config.get("judge_calibration"), out),
        *diversity_section(version, out),
        *teaches_section(version, out),
        *_rows_section(rows, images, samples),
        *_load_section(version),
    ]
    (out / README).write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


# --- data -------------------------------------------------------------------------------------


@dataclass
class _Rows:
    """What the card reads of a version's rows, in memory that does not grow with the texts: the id,
    score and category columns, each text column's lengths, and the sample rows (every card column)."""

    table: pa.Table
    num_rows: int = 0
    lengths: dict[str, np.ndarray] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return self.table.column_names

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)


def _read_rows(version: Version, samples: int) -> _Rows:
    """Only the columns the card uses (never `messages` or lineage), whatever the table's shape; texts are
    read one record batch at a time for their lengths, and again only for the sample rows."""
    files = version.files("rows")
    if not files:
        return _Rows(pa.table({}))
    schema = pq.read_schema(files[0])
    wanted = [f.name for f in schema if f.name in ("id", SCORE_COLUMN, CATEGORY_COLUMN) or _is_text(f)]
    texts = [name for name in wanted if _is_text(schema.field(name))]
    table = pq.read_table(version.path / "rows", columns=[name for name in wanted if name not in texts])
    rows = _Rows(table, sum(pq.ParquetFile(f).metadata.num_rows for f in files))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in texts}
    for f in files:
        for batch in parquet_batches(f, texts):
            for name in texts:
                parts[name].append(pc.drop_null(pc.utf8_length(batch.column(name))).to_numpy())
    rows.lengths = {name: np.concatenate(chunks) if chunks else np.zeros(0, np.int32) for name, chunks in parts.items()}
    rows.samples = _sample_rows(version, rows, wanted, samples)
    return rows


def _is_text(field: pa.Field) -> bool:
    return field.name in TEXT_COLUMNS and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type))


def _reason_counts(rejects: pa.Table) -> Reasons:
    """(stage, reason, count), most frequent first; ties by stage then reason."""
    if rejects.num_rows == 0:
        return []
    grouped = rejects.group_by(["stage", "reason"]).aggregate([([], "count_all")]).to_pylist()
    counts = [(g["stage"], g["reason"], g["count_all"]) for g in grouped]
    return sorted(counts, key=lambda c: (-c[2], c[0], c[1]))


def _value_counts(column: pa.ChunkedArray) -> list[tuple[Any, int]]:
    """Non-null values with their counts, sorted by value."""
    counts = pc.value_counts(pc.drop_null(column)).to_pylist()
    return sorted((c["values"], c["counts"]) for c in counts)


def _text_columns(rows: _Rows) -> list[str]:
    return [c for c in TEXT_COLUMNS if c in rows.lengths]


def _sample_rows(version: Version, rows: _Rows, wanted: list[str], n: int) -> list[dict[str, Any]]:
    """The first `n` rows by id (by position when there is no id column), with every card column."""
    if n <= 0 or rows.num_rows == 0:
        return []
    files = version.files("rows")
    if "id" not in rows.column_names:
        picked: list[dict[str, Any]] = []
        for f in files:
            for batch in parquet_batches(f, wanted, batch_size=n):
                picked += batch.to_pylist()[: n - len(picked)]
                if len(picked) == n:
                    return picked
        return picked
    idx = pc.select_k_unstable(rows.table, k=min(n, rows.num_rows), sort_keys=[("id", "ascending")])
    ids = rows.column("id").take(idx)
    found = pq.read_table(version.path / "rows", columns=wanted, filters=pc.field("id").isin(ids))
    by_id: dict[Any, list[dict[str, Any]]] = {}
    for row in found.to_pylist():
        by_id.setdefault(row["id"], []).append(row)
    return [by_id[i].pop(0) for i in ids.to_pylist()]


# --- plots ------------------------------------------------------------------------------------


def _figure() -> tuple[Any, Any]:
    """A Figure and its Axes without pyplot: no global backend or figure registry, so cards can be
    drawn from several threads (Prefect tasks) and nothing leaks when a figure is dropped."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE)
    return fig, fig.subplots()


def _save(fig: Any, path: Path, left: float = 0.12) -> str:
    """Fixed margins (tight_layout would draw every figure twice), then save (Agg, PNG)."""
    fig.subplots_adjust(left=left, right=0.97, top=0.9, bottom=0.16)
    fig.savefig(path, dpi=DPI, format="png")
    return path.name


def _plots(rows: _Rows, reasons: Reasons, out: Path) -> dict[str, str]:
    """Plot name -> PNG file name, only for plots that have data."""
    images: dict[str, str] = {}
    if reasons:
        labels = [f"{stage}/{reason}" for stage, reason, _ in reasons]
        images["rejects"] = _barh(labels, [c for *_, c in reasons], "rejects by stage/reason", out / "rejects.png")
    if rows.num_rows == 0:
        return images
    if _text_columns(rows):
        images["lengths"] = _length_hist(rows, out / "lengths.png")
    if SCORE_COLUMN in rows.column_names and rows.column(SCORE_COLUMN).null_count < rows.num_rows:
        images["scores"] = _score_bars(rows.column(SCORE_COLUMN), out / "judge_scores.png")
    if CATEGORY_COLUMN in rows.column_names and rows.column(CATEGORY_COLUMN).null_count < rows.num_rows:
        counts = sorted(_value_counts(rows.column(CATEGORY_COLUMN)), key=lambda c: (-c[1], str(c[0])))
        images["categories"] = _barh(
            [str(v) for v, _ in counts], [n for _, n in counts], "category mix", out / "categories.png"
        )
    return images


def _barh(labels: list[str], counts: list[int], title: str, path: Path) -> str:
    """Horizontal bars, largest on top; at most MAX_BARS."""
    fig, ax = _figure()
    shown = [_clip(label, LABEL_CHARS) for label in labels[:MAX_BARS]][::-1]
    ax.barh(range(len(shown)), counts[:MAX_BARS][::-1], color="tab:blue")  # positions: cut labels may repeat
    ax.set_yticks(range(len(shown)), shown)
    ax.set_title(title if len(labels) <= MAX_BARS else f"{title} (top {MAX_BARS})")
    ax.set_xlabel("rows")
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, path, left=0.4)


def _length_hist(rows: _Rows, path: Path) -> str:
    fig, ax = _figure()
    for name in _text_columns(rows):
        ax.hist(rows.lengths[name], bins=30, alpha=0.5, label=name)
    ax.set_title("length in characters")
    ax.set_xlabel("characters")
    ax.set_ylabel("rows")
    ax.legend()
    return _save(fig, path)


def _score_bars(scores: pa.ChunkedArray, path: Path) -> str:
    counts = dict(_value_counts(scores))
    values = sorted(set(SCORE_SCALE) | set(counts))  # scores no row got still show, as 0
    fig, ax = _figure()
    ax.bar([str(v) for v in values], [counts.get(v, 0) for v in values], color="tab:green")
    ax.set_title("judge score")
    ax.set_xlabel(SCORE_COLUMN)
    ax.set_ylabel("rows")
    return _save(fig, path)


# --- markdown ---------------------------------------------------------------------------------


def _clip(text: str, limit: int = SAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _fenced(text: str) -> list[str]:
    """A code block whose fence is longer than any run of backticks inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def _header(version: Version, m: Manifest) -> list[str]:
    parents = ", ".join(m.parent_versions) or "none"
    info = [
        ["created_at", m.created_at.isoformat()],
        ["run_id", m.run_id],
        ["code_version", m.code_version],
        ["parent versions", parents],
        ["rows", m.rows],
        ["rejects", m.rejects],
        *([["stopped", m.stopped]] if m.stopped else []),
    ]
    title = [f"# {version.name} v{version.number}", "", f"Dataset card for `{version.ref}`.", ""]
    footer = ["The full manifest (config, files) is in [manifest.json](../manifest.json).", ""]
    return title + table(["field", "value"], info) + footer


def _stages_section(m: Manifest) -> list[str]:
    head = ["stage", "in", "kept", "rejected", "seconds", "prompt tokens", "completion tokens"]
    body = [
        [s.name, s.rows_in, s.rows_out, s.rejected, f"{s.seconds:.1f}", s.prompt_tokens, s.completion_tokens]
        for s in m.stages
    ]
    if not body:
        return ["## Stages", "", "No stages recorded.", ""]
    return ["## Stages", "", *table(head, body)]


def _rejects_section(reasons: Reasons, images: dict[str, str]) -> list[str]:
    if not reasons:
        return ["## Rejection reasons", "", "No rejects.", ""]
    lines = ["## Rejection reasons", "", *table(["stage", "reason", "count"], [list(r) for r in reasons])]
    return [*lines, f"![rejects by stage and reason]({images['rejects']})", ""]


def _rows_section(rows: _Rows, images: dict[str, str], samples: int) -> list[str]:
    if rows.num_rows == 0:
        return ["## Rows", "", "This version has no rows.", ""]
    lines = ["## Rows", ""]
    captions = {"lengths": "text lengths", "scores": "judge scores", "categories": "category mix"}
    for key, caption in captions.items():
        if key in images:
            lines += [f"### {caption.capitalize()}", "", f"![{caption}]({images[key]})", ""]
    return lines + _samples_section(rows, samples)


def _samples_section(rows: _Rows, samples: int) -> list[str]:
    picked = rows.samples[:samples]
    if not picked:
        return []
    lines = ["### A few sample rows", "", f"The first {len(picked)} rows by id; long texts cut at {SAMPLE_CHARS}.", ""]
    for i, row in enumerate(picked, 1):
        lines += [f"#### Sample {i}" + (f" (`{row['id']}`)" if "id" in row else ""), ""]
        for key, value in row.items():
            if key in TEXT_COLUMNS and value is not None:
                lines += [f"**{key}**", "", *_fenced(_clip(value)), ""]
            elif key != "id":
                lines += [f"**{key}**: {cell(value)}", ""]
    return lines


def _load_section(version: Version) -> list[str]:
    files = json.dumps(str(version.path / "rows" / "*.parquet"))
    root = version.path.parent.parent
    data_dir = f" --data-dir {json.dumps(str(root.parent))}" if root.name == "datasets" else ""
    name = version.name
    return [
        "## How to load",
        "",
        "DuckDB, through synthloom (`NAME` is the latest version, `NAME_all` every version):",
        "",
        "```sh",
        f'synthloom query{data_dir} "SELECT * FROM {name} LIMIT 5"',
        f'synthloom query{data_dir} "SELECT * FROM {name}_all WHERE version = {version.number} LIMIT 5"',
        "```",
        "",
        "Hugging Face datasets:",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("parquet", data_files={files}, split="train")',
        "```",
    ]
