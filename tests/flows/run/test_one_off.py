"""Persona Hub's second persona dedup pass (embedding similarity): `persona_semantic_dedup` in a
sources config becomes the persona pipeline's semantic dedup, always over the `persona` column.
The similarity logic itself is tested in tests/filters/test_semantic.py."""

from __future__ import annotations

from flows.run import one_off
from schemas.config import parse_config


def test_persona_semantic_dedup_runs_on_the_persona_text():
    cfg = parse_config(one_off.SourcesConfig, {"persona_semantic_dedup": {"threshold": 0.9}}, "t")
    pipeline = one_off.personas("people", [], None, cfg)
    assert pipeline.semantic_dedup is not None
    assert pipeline.semantic_dedup.text_column == "persona" and pipeline.semantic_dedup.threshold == 0.9
    assert pipeline.dedup is None and pipeline.heuristics is None  # persona dedup runs inside the build


def test_off_by_default():
    assert one_off.personas("people", [], None, one_off.SourcesConfig()).semantic_dedup is None
