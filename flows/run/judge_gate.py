"""The judge gate of a run: a pipeline that filters on judge scores first calibrates the judge
(filters/calibration.py), once per judge model + engine config + rubric + scoring + calibration set +
threshold, cached as JSON under <root>/.cache/judge_calibration/. A judge below its floor does not
filter: the run stops before any generation (`on_fail: stop`, the default) or keeps the scores as
columns without the threshold (`on_fail: keep_unfiltered`); either way the report goes into the
manifest and the dataset card.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from filters.calibration import CalibrationReport, calibrate, load_set, set_hash
from filters.judge import JudgeConfig, RubricJudge
from flows.run.checkpoints import CACHE_DIR, cache_key
from flows.store.tempdirs import temp_name
from schemas.config import EngineConfig
from schemas.engine import Engine
from schemas.errors import JudgeNotCalibratedError

GATE_VERSION = "1"


@dataclass(frozen=True)
class GateResult:
    report: CalibrationReport
    filter_on_scores: bool
    cached: bool

    def note(self) -> str:
        if self.report.passed:
            return self.report.headline()
        kept = " -> scores kept as columns, NOT used to filter (on_fail: keep_unfiltered)"
        return self.report.headline() + kept

    def manifest_entry(self) -> dict[str, Any]:
        data = self.report.model_dump(mode="json")
        return {**data, "passed": self.report.passed, "filtered_on_scores": self.filter_on_scores}


def cache_path(
    root: Path, judge: JudgeConfig, engine_cfg: EngineConfig, threshold: float, rows: list[dict[str, Any]]
) -> Path:
    """Where the report for this judge, set and threshold is cached (engine identity, not how it is fed)."""
    template = RubricJudge(config=judge).template()
    key = cache_key(
        "judge_calibration",
        GATE_VERSION,
        engine_cfg.identity(),
        judge.model_dump(mode="json", include={"rubric_template", "sampling", "scoring", "top_logprobs"}),
        template.hash,
        set_hash(rows),
        threshold,
        judge.calibration.min_auc,
    )
    return Path(root) / CACHE_DIR / "judge_calibration" / f"{key}.json"


def calibrated(
    root: Path,
    judge: JudgeConfig,
    engine_cfg: EngineConfig,
    threshold: float,
    engine: Callable[[], Engine],
    refresh: bool = False,
) -> tuple[CalibrationReport, bool, Path]:
    """(report, came from cache, its cache file). `engine` is called only when there is no cached report
    (or `refresh` asks to measure again); the calibration set is read once."""
    loaded = load_set(judge.calibration.calibration_set)
    path = cache_path(root, judge, engine_cfg, threshold, loaded[1])
    if refresh:
        path.unlink(missing_ok=True)
    if path.is_file():
        try:
            return CalibrationReport.model_validate_json(path.read_text(encoding="utf-8")), True, path
        except ValueError:
            pass  # a damaged cache entry is measured again
    report = calibrate(RubricJudge(config=judge), engine(), threshold, loaded=loaded)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temp_name(".tmp") + ".json")
    tmp.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return report, False, path


def gate(report: CalibrationReport, judge: JudgeConfig, cached: bool, where: str = "judge.calibration") -> GateResult:
    """Whether the run may filter on this judge's scores; raises when it may not and must stop."""
    if report.passed:
        return GateResult(report, True, cached)
    if judge.calibration.on_fail == "keep_unfiltered":
        return GateResult(report, False, cached)
    raise JudgeNotCalibratedError(
        f"{report.headline()}: it would filter on noise, so the run stops before generating. Fix: use a "
        "stronger judge (judge.engine.model), or keep scores without filtering (heuristics.min_judge_score: "
        f"null, or {where}.on_fail: keep_unfiltered), or lower {where}.min_auc if you accept this judge "
        "(see `synthloom judge calibrate`)"
    )


def judge_settings(path: Path | None) -> tuple[JudgeConfig, EngineConfig, float]:
    """(judge, its engine, threshold) from a pipeline YAML (has `sources:`) or a score/filter config
    (`judge:` / `heuristics:` sections); defaults without a file. Threshold: min_judge_score, else 3."""
    from flows.run.config import load_pipeline_config
    from flows.run.one_off import TransformConfig
    from schemas.config import load_config

    raw = load_config(_Raw, path).model_extra if path is not None else {}
    if raw and "sources" in raw:
        cfg = load_pipeline_config(path)  # type: ignore[arg-type]
        judge = cfg.judge or JudgeConfig()
        engine = judge.engine_or(cfg.engine)
        return judge, engine, (cfg.heuristics.min_judge_score if cfg.heuristics else None) or 3.0
    tcfg = load_config(TransformConfig, path)
    return tcfg.judge, tcfg.judge.engine_or(EngineConfig()), tcfg.heuristics.min_judge_score or 3.0


class _Raw(BaseModel):
    """Any mapping: read once to tell a pipeline file from a transform config."""

    model_config = ConfigDict(frozen=True, extra="allow")
