"""The dataset card's "What it teaches" section: the newest eval of this version (base vs tuned, and the
parent version's tuned model on the same suite), with intervals and a plot. Reads <dataset>/evals/ only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.store import Version
from flows.store.evals import LOWER_IS_BETTER, SCORED, latest_eval

TITLE = "## What it teaches"
PLOT = "teaches.png"
COLORS = ["tab:gray", "tab:blue", "tab:green"]
SHOWN = SCORED
MEANING = {
    "ref_nll": "mean NLL per token of the suite's reference answers (lower is better)",
    "ref_margin": "how much likelier each reference is given its own instruction than given another task's "
    "(NLL of the mismatched pair minus the matched one; higher is better)",
    "if_pass": "share of instruction-following prompts whose every constraint holds (higher is better)",
    "clean_rate": "share of the answers to those prompts that end before the token cap and pass the "
    "pipeline's heuristics: no loop, refusal, cut-off or template leak (higher is better)",
}


def teaches_section(version: Version, out: Path) -> list[str]:
    root = version.path.parent.parent
    mine = latest_eval(root, version.ref)
    if mine is None:
        return [TITLE, "", f"Not measured yet: `synthloom eval {version.ref}` fine-tunes a base model on it.", ""]
    rows = mine.to_pylist()
    parent_ref, parent = _parent_eval(root, version, rows[0]["suite_hash"])
    head = rows[0]
    lines = [
        TITLE,
        "",
        f"`synthloom eval` fine-tuned `{head['base']}` on this version (LoRA, "
        f"{_cell(rows, 'train', 'train_loss', 'note')}) and scored the base and the tuned model on suite "
        f"`{head['suite']}` ({head['suite_hash']}), eval `{head['eval_id'][:8]}`. Intervals: bootstrap 95% over items.",
        "",
        *_table(rows, parent_ref, parent),
        f"judge_winrate: {_cell(rows, 'tuned', 'judge_winrate', 'note')}.",
        "",
    ]
    lines += [f"- `{m}`: {MEANING[m]}" for m in SHOWN] + [""]
    _plot(rows, parent_ref, parent, out / PLOT)
    return [*lines, f"![base vs tuned]({PLOT})", ""]


def _parent_eval(root: Path, version: Version, suite_hash: str) -> tuple[str | None, list[dict[str, Any]]]:
    for ref in version.manifest().parent_versions:
        found = latest_eval(root, ref, suite_hash)
        if found is not None:
            return ref, found.to_pylist()
    return None, []


def _find(rows: list[dict[str, Any]], model: str, metric: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["model"] == model and r["metric"] == metric), None)


def _cell(rows: list[dict[str, Any]], model: str, metric: str, key: str = "value") -> str:
    row = _find(rows, model, metric)
    if row is None or row[key] is None:
        return "n/a"
    if key != "value":
        return str(row[key])
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def _table(rows: list[dict[str, Any]], parent_ref: str | None, parent: list[dict[str, Any]]) -> list[str]:
    head = ["metric", "base", "tuned", "tuned - base"] + ([f"{parent_ref} tuned"] if parent_ref else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in SHOWN:
        cells = [m, _cell(rows, "base", m), _cell(rows, "tuned", m), _cell(rows, "delta", m)]
        cells += [_cell(parent, "tuned", m)] if parent_ref else []
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _plot(rows: list[dict[str, Any]], parent_ref: str | None, parent: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.4 * len(SHOWN), 3.2))
    bars = [("base", rows, "base"), ("tuned", rows, "tuned")]
    bars += [(parent_ref, parent, "tuned")] if parent_ref else []
    for ax, metric in zip(fig.subplots(1, len(SHOWN)), SHOWN, strict=True):
        found = [(label, _find(src, model, metric)) for label, src, model in bars]
        found = [(label, r) for label, r in found if r is not None and r["value"] is not None]
        if not found:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        values = [r["value"] for _, r in found]
        errors = [[r["value"] - r["ci_low"] for _, r in found], [r["ci_high"] - r["value"] for _, r in found]]
        ax.bar(range(len(found)), values, yerr=errors, capsize=4, color=COLORS[: len(found)])
        ax.set_xticks(range(len(found)), [label for label, _ in found], fontsize=8)
        ax.set_title(f"{metric} ({'lower' if metric in LOWER_IS_BETTER else 'higher'} is better)", fontsize=9)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.15, wspace=0.3)
    fig.savefig(path, dpi=100, format="png")
