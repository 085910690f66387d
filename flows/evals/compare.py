"""Two versions' evals side by side (`synthloom eval compare A B`): the tuned models' metrics, paired
over the suite items both saw, with bootstrap intervals. Reads what flows/store/evals.py stored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flows.evals.stats import Estimate, bootstrap_delta, bootstrap_mean
from flows.store.evals import SCORED, item_values, latest_eval


@dataclass(frozen=True)
class Comparison:
    metric: str
    a: Estimate
    b: Estimate
    delta: Estimate  # b - a, paired by item


def compare(root: Path | str, ref_a: str, ref_b: str) -> list[Comparison]:
    """The tuned models of the newest evals of two versions, metric by metric, paired over shared items."""
    a, b = latest_eval(root, ref_a), latest_eval(root, ref_b)
    if a is None or b is None:
        missing = ref_a if a is None else ref_b
        raise LookupError(f"no eval of {missing}: run `synthloom eval {missing}` first")
    ids = a.column("eval_id")[0].as_py(), b.column("eval_id")[0].as_py()
    out = []
    for metric in SCORED:
        va = item_values(root, ref_a.split("@")[0], ids[0], "tuned", metric)
        vb = item_values(root, ref_b.split("@")[0], ids[1], "tuned", metric)
        shared = sorted(va.keys() & vb.keys())
        if shared:
            xa, xb = [va[i] for i in shared], [vb[i] for i in shared]
            out.append(Comparison(metric, bootstrap_mean(xa), bootstrap_mean(xb), bootstrap_delta(xb, xa)))
    return out
