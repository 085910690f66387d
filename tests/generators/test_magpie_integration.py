"""Magpie on the real embedded model through in-process vLLM."""

import json

import pytest

from generators.chat_template import end_of_user_turn, pre_query_prefix
from generators.magpie import Magpie
from schemas.config import MagpieConfig, SamplingConfig

pytestmark = pytest.mark.integration

SMOL_PREFIX = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\n"
)


def test_pre_query_template_comes_from_the_models_own_chat_template(real_engine):
    assert pre_query_prefix(real_engine.render_chat) == SMOL_PREFIX
    assert end_of_user_turn(real_engine.render_chat) == "<|im_end|>"


def test_magpie_on_the_embedded_model(real_engine):
    cfg = MagpieConfig(
        n=6,
        instruction=SamplingConfig(temperature=1.0, max_tokens=64),
        response=SamplingConfig(temperature=0.0, max_tokens=96),
    )
    result = Magpie(config=cfg)(real_engine, "it-run")
    s = result.stats
    assert s.rows_in == 6 == s.rows_out + s.rejected
    assert s.completion_tokens > 0 and s.prompt_tokens > 0
    assert result.rows.num_rows + result.rejects.num_rows == 6
    for row in result.rows.to_pylist():
        assert row["model_id"] == "embedded:SmolLM2-135M-Instruct" and row["instruction"] and row["response"]
        assert "<|im_start|>" not in row["instruction"]
    for rej in result.rejects.to_pylist():
        assert rej["reason"] and rej["stage"] == "magpie"


def test_same_seed_same_instructions(real_engine):
    cfg = MagpieConfig(n=3, instruction=SamplingConfig(max_tokens=32), response=SamplingConfig(max_tokens=8))
    stage = Magpie(config=cfg)
    a = [stage.format_input(real_engine, [])] * 3
    params = [stage.instruction_params(c, 0, "<|im_end|>") for c in _convs(3)]
    first = [c.text for c in real_engine.complete(a, params)]
    second = [c.text for c in real_engine.complete(a, params)]
    assert first == second


def _convs(n):
    from generators.magpie import _Conversation

    return [_Conversation(i, i, []) for i in range(n)]


def test_json_schema_constrains_chat_output(real_engine):
    schema = {
        "title": "Verdict",
        "type": "object",
        "properties": {"quality": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
        "required": ["quality"],
        "additionalProperties": False,
    }
    conv = [{"role": "user", "content": "Rate this answer 1-5 as JSON. Q: 2+2? A: 4"}]
    (out,) = real_engine.chat([conv], [SamplingConfig(temperature=0.0, max_tokens=32)], json_schema=schema)
    assert json.loads(out.text)["quality"] in {1, 2, 3, 4, 5}
