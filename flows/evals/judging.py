"""Whether `judge_winrate` can be measured, and if not, the sentence the report gives instead.

A win rate from a judge is only reported for a judge that passed calibration (`synthloom judge
calibrate`, cached under <root>/.cache/judge_calibration/). The eval never calibrates on its own: it
reads the cached report for the configured judge, so it loads no judge model to say why one is missing.
"""

from __future__ import annotations

from pathlib import Path

NOT_MEASURED = "not measured: "


def judge_note(root: Path, judge_config: Path | None) -> str:
    if judge_config is None:
        return NOT_MEASURED + "no judge configured (--judge-config names a pipeline or score config with judge:)"
    from filters.calibration import CalibrationReport, load_set
    from flows.run.judge_gate import cache_path, judge_settings

    judge, engine_cfg, threshold = judge_settings(judge_config)
    path = cache_path(root, judge, engine_cfg, threshold, load_set(judge.calibration.calibration_set)[1])
    if not path.is_file():
        calibrate = f"synthloom judge calibrate --config {judge_config}"
        return NOT_MEASURED + f"the judge is not calibrated yet: run `{calibrate}`"
    report = CalibrationReport.model_validate_json(path.read_text(encoding="utf-8"))
    if not report.passed:
        return NOT_MEASURED + f"the judge failed calibration ({report.headline()})"
    return NOT_MEASURED + (
        f"the judge passed calibration ({report.headline()}), but pairwise judging of base vs tuned answers "
        "is not implemented yet"
    )
