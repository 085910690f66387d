"""The judge-calibration part of a dataset card and of `synthloom judge calibrate`: a Markdown section
and a plot of the scores the judge gave to known-good and known-bad rows, per kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT = "judge_calibration.png"


def calibration_plot(entry: dict[str, Any], path: Path) -> str:
    """One row of dots per kind (good rows first): where the judge's scores fall, and the threshold."""
    from matplotlib.figure import Figure

    scores: list[tuple[str, float]] = [tuple(s) for s in entry.get("scores") or []]  # type: ignore[misc]
    kinds = [k["kind"] for k in entry["per_kind"]]
    fig = Figure(figsize=(7.0, 0.45 * len(kinds) + 1.4))
    ax = fig.subplots()
    for y, kind in enumerate(kinds):
        xs = [s for k, s in scores if k == kind]
        good = next(k["label"] for k in entry["per_kind"] if k["kind"] == kind) == "good"
        jitter = [y + 0.25 * ((i % 5) - 2) / 2 for i in range(len(xs))]
        ax.scatter(xs, jitter, s=18, color="tab:green" if good else "tab:red", alpha=0.7)
    ax.axvline(entry["threshold"], color="black", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_xlim(-0.2, 5.2)
    ax.set_xlabel("judge score (0 = unparseable verdict); dashed: min_judge_score")
    ax.set_title(f"judge calibration: ROC AUC {entry['auc']:.2f} (floor {entry['min_auc']:.2f})")
    fig.subplots_adjust(left=0.22, right=0.97, top=0.88, bottom=0.2)
    fig.savefig(path, dpi=100, format="png")
    return path.name


def calibration_section(entry: dict[str, Any] | None, out: Path) -> list[str]:
    """Markdown lines for the card; a line saying no calibration ran when there is none."""
    if not entry:
        return ["## Judge calibration", "", "No judge threshold was applied, so no calibration ran.", ""]
    c = entry["confusion"]
    verdict = "passed" if entry.get("passed") else "failed"
    used = "used to filter" if entry.get("filtered_on_scores") else "kept as columns, not used to filter"
    lines = [
        "## Judge calibration",
        "",
        f"Judge `{entry['judge_model']}` ({entry['scoring']} scores, rubric `{entry['rubric']}`) {verdict}: "
        f"ROC AUC {entry['auc']:.2f} good-vs-bad (floor {entry['min_auc']:.2f}; 0.50 = chance), accuracy "
        f"{entry['accuracy']:.0%} at min score {entry['threshold']:g}; its scores were {used}.",
        "",
        "| | kept | dropped |",
        "|---|---|---|",
        f"| good rows | {c['good_kept']} | {c['good_dropped']} |",
        f"| bad rows | {c['bad_kept']} | {c['bad_dropped']} |",
        "",
        "| kind | n | mean score | dropped | unparseable |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {k['kind']} | {k['n']} | {k['mean_score']:.2f} | {k['dropped']:.0%} | {k['invalid']} |"
        for k in entry["per_kind"]
    ]
    if entry.get("scores"):
        lines += ["", f"![judge calibration]({calibration_plot(entry, out / PLOT)})"]
    return [*lines, ""]
