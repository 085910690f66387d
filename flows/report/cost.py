"""The card's "Cost" section: the manifest's ledger (flows/run/ledger.py) as tables, and why the run
stopped when a budget or a Ctrl-C cut it short."""

from __future__ import annotations

from typing import Any

from flows.report.markdown import table
from schemas.manifest import Manifest

STOPS = {
    "budget": "the run's budget was reached",
    "interrupted": "the run was stopped (Ctrl-C / SIGTERM)",
}


def _usd(value: float | None, digits: int = 4) -> str:
    return "n/a (no prices)" if value is None else f"${value:.{digits}f}"


def cost_section(m: Manifest) -> list[str]:
    ledger = m.ledger
    if not ledger:
        return []
    lines = ["## Cost", ""]
    if m.stopped:
        why = STOPS.get(m.stopped, m.stopped)
        detail = f" ({ledger['stop_detail']})" if ledger.get("stop_detail") else ""
        lines += [
            f"**Stopped: {m.stopped}**: {why}{detail}. This version holds the rows that passed until then; "
            "running the same config again publishes the rest as the next version.",
            "",
        ]
    per = ledger.get("per_kept_row") or {}
    lines += _table(
        ["", "prompt tokens", "completion tokens", "USD"],
        [
            ["all stages", ledger["prompt_tokens"], ledger["completion_tokens"], _usd(ledger.get("cost_usd"))],
            ["per kept row", per.get("prompt_tokens"), per.get("completion_tokens"), _usd(per.get("cost_usd"), 6)],
            *[[n, s["prompt_tokens"], s["completion_tokens"], _usd(s["usd"])] for n, s in ledger["stages"].items()],
        ],
    )
    lines += _spend_lines(ledger)
    return lines


def _table(head: list[str], body: list[list[Any]]) -> list[str]:
    return table(head, [["" if v is None else v for v in row] for row in body])  # no "None" cells


def _spend_lines(ledger: dict[str, Any]) -> list[str]:
    run, budget = ledger.get("this_run") or {}, ledger.get("budget")
    spent = f"{run.get('prompt_tokens', 0)}+{run.get('completion_tokens', 0)} new tokens, {_usd(run.get('usd'))}"
    line = f"This run spent {spent} in {run.get('seconds', 0):.0f} s (work read from checkpoints is free)"
    if budget:
        caps = ", ".join(f"{k} {v:g}" for k, v in budget.items() if v is not None)
        line += f", against the budget: {caps}"
    return [line + ".", ""]
