"""The rubric judge on the real embedded model: constrained decoding yields schema-valid JSON or a
reject; never a crash. (The 135M model is a weak judge; this checks the mechanics, not its taste.)"""

import pytest

from filters.judge import JudgeConfig, RubricJudge
from schemas.config import SamplingConfig
from tests.flows.helpers import stage_result

pytestmark = pytest.mark.integration


def test_rubric_judge_on_embedded_model(real_engine):
    rows = stage_result(["What is 2+2?", "Name a primary colour."], rejected=0).rows
    judge = RubricJudge(config=JudgeConfig(sampling=SamplingConfig(temperature=0.0, max_tokens=160)))
    result = judge(rows, real_engine)
    assert result.stats.rows_in == 2 == result.stats.rows_out + result.stats.rejected
    for row in result.rows.to_pylist():
        assert row["judge_quality"] in {1, 2, 3, 4, 5} and row["judge_model"].startswith("embedded:")
    for rej in result.rejects.to_pylist():
        assert rej["reason"].startswith("judge_") and rej["raw_text"] is not None
