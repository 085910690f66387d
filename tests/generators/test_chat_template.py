import pytest

from generators.chat_template import TemplateError, end_of_user_turn, pre_query_prefix
from tests.fakes import CHATML, LLAMA3, ScriptedEngine


def engine(template: str) -> ScriptedEngine:
    return ScriptedEngine(lambda p, s: "", lambda m, s: "", template=template)


def test_chatml_prefix_keeps_the_templates_default_system_turn():
    e = engine(CHATML)
    assert pre_query_prefix(e.render_chat) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    )


def test_own_system_prompt_replaces_the_default():
    e = engine(CHATML)
    assert pre_query_prefix(e.render_chat, system_prompt="Be terse.") == (
        "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\n"
    )


def test_llama3_prefix_without_a_table():
    e = engine(LLAMA3)
    assert pre_query_prefix(e.render_chat) == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    assert end_of_user_turn(e.render_chat) == "<|eot_id|>"


def test_multi_turn_prefix_continues_the_conversation():
    e = engine(CHATML)
    history = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    prefix = pre_query_prefix(e.render_chat, history)
    assert prefix.endswith("<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n")


def test_end_of_turn_marker_chatml():
    assert end_of_user_turn(engine(CHATML).render_chat) == "<|im_end|>"


def test_template_that_drops_the_user_message_is_an_error():
    with pytest.raises(TemplateError):
        pre_query_prefix(lambda messages, gen: "<s>")
