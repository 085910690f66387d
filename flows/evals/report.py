"""What `synthloom eval` prints: the metric table of one eval, or the deltas between two versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flows.evals.compare import Comparison
from flows.evals.runner import EvalOutcome
from flows.store.evals import LOWER_IS_BETTER, SCORED

Echo = Callable[[str], None]


def _fmt(row: dict[str, Any] | None) -> str:
    if row is None or row["value"] is None:
        return "n/a"
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def print_outcome(outcome: EvalOutcome, echo: Echo) -> None:
    rows = outcome.metrics.to_pylist()
    head = rows[0]
    trained = next((r["note"] for r in rows if r["model"] == "train"), f"{head['train_rows']} rows")
    echo(f"eval {outcome.eval_id[:8]} of {head['dataset']}: {head['base']} + LoRA, {trained},")
    echo(f"  suite {head['suite']} ({head['suite_hash']}); 95% bootstrap intervals over items")
    echo(f"{'metric':<10} {'base':<26} {'tuned':<26} {'tuned - base':<26}")
    for metric in SCORED:
        found = {r["model"]: r for r in rows if r["metric"] == metric}
        cells = [_fmt(found.get(m)) for m in ("base", "tuned", "delta")]
        better = "lower" if metric in LOWER_IS_BETTER else "higher"
        echo(f"{metric:<10} {cells[0]:<26} {cells[1]:<26} {cells[2]:<26} ({better} is better)")
    for r in rows:
        if r["note"] and r["model"] in ("tuned", "base") and r["value"] is None:
            echo(f"{r['metric']}: {r['note']}")
    echo("time: " + ", ".join(f"{k} {v:.0f}s" for k, v in outcome.phases.items()))
    echo(f"results: {outcome.path}  (SELECT * FROM evals)")
    echo(f"training: {outcome.training.checkpoint}")


def print_comparison(ref_a: str, ref_b: str, found: list[Comparison], echo: Echo) -> None:
    echo(f"tuned models, {ref_b} vs {ref_a} (paired over shared suite items; 95% bootstrap intervals)")
    echo(f"{'metric':<10} {ref_a:<26} {ref_b:<26} {'delta (B - A)':<26}")
    for c in found:
        side = "excludes 0" if not (c.delta.ci_low <= 0 <= c.delta.ci_high) else "includes 0"
        echo(f"{c.metric:<10} {c.a.text():<26} {c.b.text():<26} {c.delta.text():<26} (interval {side})")


def run_command(refs: list[str], overrides: dict[str, Any], config: Path | None, root: Path, echo: Echo) -> None:
    """`synthloom eval REF` or `synthloom eval compare A B` (flows/cli.py hands its arguments here)."""
    from flows.eval_config import EvalConfig
    from flows.evals.runner import run_eval
    from schemas.config import load_config
    from schemas.errors import ConfigError

    if refs[:1] == ["compare"] and len(refs) == 3:
        from flows.evals.compare import compare

        try:
            print_comparison(refs[1], refs[2], compare(root, refs[1], refs[2]), echo)
        except LookupError as err:
            raise ConfigError(str(err)) from None
        return
    if len(refs) != 1:
        raise ConfigError(f"eval takes one dataset version (NAME@vN) or `compare A B`, got: {' '.join(refs)}")
    if overrides.get("steps") is not None and overrides.get("epochs") is not None:
        raise ConfigError("give --steps or --epochs, not both")
    cfg = load_config(EvalConfig, config, {k: v for k, v in overrides.items() if v is not None})
    print_outcome(run_eval(root, refs[0], cfg, say=lambda m: echo(f"... {m}")), echo)
