"""Judge calibration: before a judge's scores may filter anything, measure whether they separate
rows known to be good from rows known to be bad.

The shipped set (filters/data/judge_calibration.jsonl, written for this project) holds clearly good
instruction/response pairs and clearly bad ones of many kinds: refusal, echo, truncated, looping, wrong
language, off-topic, wrong answer, chat-template leak. The report gives the ROC AUC of good vs bad
(0.5 = chance), accuracy and a confusion table at the configured threshold, and per kind the mean score
and the share the threshold would drop. A verdict that does not parse counts as score 0: the pipeline
rejects such rows too. Pure except for the engine call; flows/ caches reports per judge.
"""

from __future__ import annotations

import hashlib
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field

from filters.judge import RubricJudge
from schemas.config import Frozen
from schemas.engine import Engine
from schemas.errors import ConfigError

SHIPPED_SET = "judge_calibration.jsonl"


class KindStats(Frozen):
    kind: str
    label: str
    n: int
    mean_score: float
    dropped: float = Field(description="share of these rows scored below the threshold (or unparseable)")
    invalid: int


class CalibrationReport(Frozen):
    judge_model: str
    rubric: str
    rubric_hash: str
    scoring: str
    set_name: str
    set_hash: str
    threshold: float
    min_auc: float
    auc: float
    accuracy: float
    confusion: dict[str, int] = Field(description="bad_dropped, bad_kept, good_kept, good_dropped")
    invalid: int
    per_kind: tuple[KindStats, ...]
    scores: tuple[tuple[str, float], ...] = Field(description="(kind, score) per row; 0 = unparseable verdict")
    seconds: float

    @property
    def passed(self) -> bool:
        return self.auc >= self.min_auc

    def headline(self) -> str:
        verdict = "passes" if self.passed else "FAILS"
        return (
            f"judge {self.judge_model} ({self.scoring} scores, rubric {self.rubric}) {verdict} calibration: "
            f"ROC AUC {self.auc:.2f} good-vs-bad on {len(self.scores)} labeled rows (floor {self.min_auc:.2f}; "
            f"0.50 = chance), accuracy {self.accuracy:.0%} at min score {self.threshold:g}, "
            f"{self.invalid} unparseable verdicts"
        )

    def table(self) -> str:
        c = self.confusion
        lines = [
            self.headline(),
            "",
            "                 kept  dropped",
            f"  good rows    {c['good_kept']:5d}  {c['good_dropped']:7d}",
            f"  bad rows     {c['bad_kept']:5d}  {c['bad_dropped']:7d}",
            "",
            f"  {'kind':16s} {'n':>3s} {'mean':>5s} {'dropped':>8s} {'invalid':>8s}",
        ]
        for k in self.per_kind:
            lines.append(f"  {k.kind:16s} {k.n:3d} {k.mean_score:5.2f} {k.dropped:8.0%} {k.invalid:8d}")
        return "\n".join(lines)


def load_set(path: str | Path | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(name, rows) of a calibration set: JSONL with instruction, response, label (good|bad), kind."""
    if path is None:
        text = resources.files("filters").joinpath("data", SHIPPED_SET).read_text(encoding="utf-8")
        name = f"shipped:{SHIPPED_SET}"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"calibration set {path}: cannot read it ({err}); give a UTF-8 JSONL file") from None
        name = str(path)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"calibration set {name} line {n}: not JSON ({err.msg})") from None
        missing = {"instruction", "response", "label"} - set(row)
        if missing or row["label"] not in ("good", "bad"):
            raise ConfigError(
                f"calibration set {name} line {n}: needs instruction, response and label 'good' or 'bad' "
                f"(missing {sorted(missing)})"
            )
        rows.append({**row, "kind": row.get("kind") or row["label"]})
    if not any(r["label"] == "good" for r in rows) or not any(r["label"] == "bad" for r in rows):
        raise ConfigError(f"calibration set {name}: needs both good and bad rows")
    return name, rows


def set_hash(rows: list[dict[str, Any]]) -> str:
    blob = json.dumps(rows, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def roc_auc(good: list[float], bad: list[float]) -> float:
    """P(a random good row scores above a random bad one), ties count half (Mann-Whitney U)."""
    if not good or not bad:
        return 0.5
    wins = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return wins / (len(good) * len(bad))


def score_rows(judge: RubricJudge, engine: Engine, rows: list[dict[str, Any]]) -> list[float]:
    """The judge's score per row (0.0 where the verdict does not parse: the pipeline rejects those)."""
    _, _, scores = judge.judge_rows(rows, engine)
    return [0.0 if s is None else s for s in scores]


def calibrate(
    judge: RubricJudge,
    engine: Engine,
    threshold: float,
    set_path: str | Path | None = None,
    loaded: tuple[str, list[dict[str, Any]]] | None = None,
) -> CalibrationReport:
    """Score a calibration set (`loaded` as load_set returned it, else read from `set_path` or the config)."""
    started = time.perf_counter()
    name, rows = loaded or load_set(set_path if set_path is not None else judge.config.calibration.calibration_set)
    scores = score_rows(judge, engine, rows)
    return build_report(judge, engine.model_id, name, rows, scores, threshold, time.perf_counter() - started)


def build_report(
    judge: RubricJudge,
    model_id: str,
    name: str,
    rows: list[dict[str, Any]],
    scores: list[float],
    threshold: float,
    seconds: float = 0.0,
) -> CalibrationReport:
    good = [s for r, s in zip(rows, scores, strict=True) if r["label"] == "good"]
    bad = [s for r, s in zip(rows, scores, strict=True) if r["label"] == "bad"]
    confusion = {
        "bad_dropped": sum(s < threshold for s in bad),
        "bad_kept": sum(s >= threshold for s in bad),
        "good_kept": sum(s >= threshold for s in good),
        "good_dropped": sum(s < threshold for s in good),
    }
    kinds: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for r, s in zip(rows, scores, strict=True):
        kinds.setdefault(r["kind"], []).append((r, s))
    per_kind = tuple(
        KindStats(
            kind=kind,
            label=items[0][0]["label"],
            n=len(items),
            mean_score=round(sum(s for _, s in items) / len(items), 3),
            dropped=round(sum(s < threshold for _, s in items) / len(items), 3),
            invalid=sum(s == 0.0 for _, s in items),
        )
        for kind, items in kinds.items()
    )
    template = judge.template()
    return CalibrationReport(
        judge_model=model_id,
        rubric=template.name,
        rubric_hash=template.hash,
        scoring=judge.config.scoring,
        set_name=name,
        set_hash=set_hash(rows),
        threshold=threshold,
        min_auc=judge.config.calibration.min_auc,
        auc=round(roc_auc(good, bad), 4),
        accuracy=round((confusion["bad_dropped"] + confusion["good_kept"]) / len(rows), 4),
        confusion=confusion,
        invalid=sum(s == 0.0 for s in scores),
        per_kind=per_kind,
        scores=tuple((r["kind"], round(s, 4)) for r, s in zip(rows, scores, strict=True)),
        seconds=round(seconds, 3),
    )
