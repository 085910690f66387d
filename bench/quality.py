"""Junk-detector benchmark: the non-LLM gates of the heuristics stage on a hand-labeled set.

data/quality/labeled.jsonl was written for this project: instruction/response rows labeled
`good` (short answers, prose, lists, code, tables, poems and requested dialogues, answers that
open with "Sorry to hear that" and then help, names like Nguyễn Trãi or Søren, translations asked
for, rewriting tasks that repeat their input, ...) or `junk` of one kind (refusal, deflection,
echo, leak, garbled, placeholder, truncated, loop, wrong_language, non_request). No row has a
finish reason or a judge score, so only the text decides: the rules under test are checks 4-14 of
filters/heuristics.py (with garbled text and placeholders after the template leaks) with their
default thresholds (the judge check has no column to read).

Reports, per kind: rows, share rejected (junk) or kept (good), and which reasons fired; then the
totals against the targets (>= 90% of junk rejected, >= 97% of good rows kept), and the rows/s of
the stage on the set (lingua's model loading excluded by a warm-up pass).

    .venv/bin/python bench/quality.py                     # the table
    .venv/bin/python bench/quality.py --misses            # also every misjudged row
    .venv/bin/python bench/quality.py --data data/quality/holdout.jsonl   # the held-out set
    .venv/bin/python bench/quality.py --speed 10000       # also rows/s on the rows tiled to 10k
    .venv/bin/python bench/quality.py --write bench/results/quality.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.heuristics import HeuristicsConfig, heuristic_verdicts

LABELED = Path(__file__).resolve().parents[1] / "data" / "quality" / "labeled.jsonl"
TARGET_JUNK, TARGET_GOOD = 0.90, 0.97


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def judge(rows: list[dict], cfg: HeuristicsConfig) -> tuple[list, float, float]:
    """Verdicts, rows per wall second and rows per CPU second (all threads) of the stage, warm."""
    table = pa.table({"instruction": [r["instruction"] for r in rows], "response": [r["response"] for r in rows]})
    heuristic_verdicts(table, cfg)  # warm-up: lingua loads its models lazily
    started, cpu = time.perf_counter(), time.process_time()
    verdicts = heuristic_verdicts(table, cfg)
    return verdicts, len(rows) / (time.perf_counter() - started), len(rows) / (time.process_time() - cpu)


def report(rows: list[dict], verdicts: list, rate: float, misses: bool) -> tuple[str, dict]:
    by_kind: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_kind[(r["label"], r["kind"])].append(i)
    lines = ["| label | kind | rows | rejected | kept | reasons |", "|---|---|---:|---:|---:|---|"]
    for (label, kind), idx in sorted(by_kind.items()):
        rejected = [verdicts[i][0] for i in idx if verdicts[i] is not None]
        reasons = ", ".join(f"{k} {n}" for k, n in Counter(rejected).most_common()) or "-"
        lines.append(f"| {label} | {kind} | {len(idx)} | {len(rejected) / len(idx):.0%} | "
                     f"{1 - len(rejected) / len(idx):.0%} | {reasons} |")  # fmt: skip
    junk = [i for i, r in enumerate(rows) if r["label"] == "junk"]
    good = [i for i, r in enumerate(rows) if r["label"] == "good"]
    caught = sum(verdicts[i] is not None for i in junk) / len(junk)
    kept = sum(verdicts[i] is None for i in good) / len(good)
    totals = {"rows": len(rows), "junk": len(junk), "good": len(good), "junk_rejected": round(caught, 4),
              "good_kept": round(kept, 4), "rows_per_s": round(rate)}  # fmt: skip
    lines += [
        "",
        f"junk rejected: {caught:.1%} of {len(junk)} (target >= {TARGET_JUNK:.0%}) "
        f"{'PASS' if caught >= TARGET_JUNK else 'FAIL'}",
        f"good kept:     {kept:.1%} of {len(good)} (target >= {TARGET_GOOD:.0%}) "
        f"{'PASS' if kept >= TARGET_GOOD else 'FAIL'}",
        f"speed:         {rate:,.0f} rows/s (whole heuristics stage, warm lingua, this machine)",
    ]
    if misses:
        lines.append("\nMisjudged rows:")
        for i in junk + good:
            wrong = (verdicts[i] is None) == (rows[i]["label"] == "junk")
            if wrong:
                r = rows[i]
                lines.append(f"- [{r['label']}/{r['kind']}] {r['instruction'][:70]!r} -> {r['response'][:90]!r} "
                             f"{verdicts[i]}")  # fmt: skip
    return "\n".join(lines), totals


def speed(rows: list[dict], n: int) -> str:
    """Rows/s of the whole heuristics stage on the labeled rows tiled to n, without and with language id."""
    tiled = [rows[i % len(rows)] for i in range(n)]
    out = []
    for label, cfg in (("without language id", HeuristicsConfig(allowed_languages=None)),
                       ("with language id", HeuristicsConfig())):  # fmt: skip
        _, wall, cpu = judge(tiled, cfg)
        out.append(f"{label}: {wall:,.0f} rows/s wall, {cpu:,.0f} rows per CPU-second")
    return f"speed on {n:,} rows: " + "; ".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=LABELED)
    ap.add_argument("--misses", action="store_true", help="list every misjudged row")
    ap.add_argument("--write", type=Path, help="also write the report (Markdown) here")
    ap.add_argument("--speed", type=int, metavar="N", help="also time the stage on the rows tiled to N")
    args = ap.parse_args()
    rows = load(args.data)
    verdicts, rate, _ = judge(rows, HeuristicsConfig())
    text, totals = report(rows, verdicts, rate, args.misses)
    if args.speed:
        text += "\n" + speed(rows, args.speed)
    print(text)
    print(json.dumps(totals))
    if args.write:
        args.write.write_text(f"# bench/quality.py\n\n`.venv/bin/python bench/quality.py`\n\n{text}\n")
    return 0 if totals["junk_rejected"] >= TARGET_JUNK and totals["good_kept"] >= TARGET_GOOD else 1


if __name__ == "__main__":
    raise SystemExit(main())
