import pytest

from generators.chat_template import TemplateError, check_pre_query_template, end_of_user_turn, pre_query_prefix
from generators.magpie import Magpie, seeds_table
from schemas.config import MagpieConfig
from schemas.errors import SynthloomError
from schemas.stage import context
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


# -- the Magpie self-check on real template families ----------------------------------------------
# Written from the structure of each family's published chat template (not copied), rendered by
# transformers' own apply_chat_template (its sandboxed jinja2, `raise_exception`, bos/eos tokens).

LLAMA3_REAL = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
QWEN25 = (
    "{% if messages[0]['role'] == 'system' %}{{ '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}"
    "{% else %}{{ '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. '"
    "'You are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
PHI3 = (  # system messages fall through every branch: silently dropped
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '<|user|>\n' + message['content'] + '<|end|>\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\n' + message['content'] + '<|end|>\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
FAMILIES = {"llama-3": LLAMA3_REAL, "qwen2.5": QWEN25, "gemma-2": GEMMA2, "phi-3": PHI3, "mistral": MISTRAL}


def hf_render(template: str):
    """A transformers tokenizer built here (no download) that renders with the given chat template."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<bos>": 3}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")), bos_token="<s>", eos_token="</s>"
    )
    tok.chat_template = template

    def render(messages, add_generation_prompt):
        return tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)

    return render


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_yields_a_prefix_without_a_system_prompt(family):
    prefix = check_pre_query_template(hf_render(FAMILIES[family]), family)
    assert prefix.rstrip().endswith(("user<|end_header_id|>", "<|im_start|>user", "<start_of_turn>user",
                                     "<|user|>", "[INST]"))  # fmt: skip


@pytest.mark.parametrize("family", ["llama-3", "qwen2.5"])
def test_families_with_a_system_role_keep_the_system_prompt(family):
    prefix = check_pre_query_template(hf_render(FAMILIES[family]), family, "You answer like a pirate.")
    assert "You answer like a pirate." in prefix
    assert "You are Qwen" not in prefix


@pytest.mark.parametrize(
    ("family", "says"),
    [
        ("phi-3", "drops the system prompt"),
        ("gemma-2", "refuses a system turn (System role not supported)"),
        ("mistral", "refuses a system turn (Conversation roles must alternate"),
    ],
)
def test_families_without_a_system_role_are_one_line_errors(family, says):
    with pytest.raises(TemplateError) as caught:
        check_pre_query_template(hf_render(FAMILIES[family]), f"org/{family}", "You answer like a pirate.")
    message = str(caught.value)
    assert message.startswith(f"model org/{family}: its chat template ") and says in message
    assert "set magpie.system_prompt: null" in message and "\n" not in message
    assert isinstance(caught.value, SynthloomError)  # the CLI prints it as one line, exit code 2


def test_magpie_checks_the_template_before_generating():
    calls = []
    e = ScriptedEngine(lambda p, s: calls.append(p) or "Explain tides?", lambda m, s: "Tides follow the moon.",
                       template=PHI3.replace("{{ bos_token }}", ""), specials=("<|end|>",))  # fmt: skip
    with pytest.raises(TemplateError, match="drops the system prompt"):
        Magpie(config=MagpieConfig(system_prompt="Be terse.")).run(seeds_table(0, 2), context("magpie", e, "r"))
    assert calls == [] and e.calls == []


DEEPSEEK_LIKE = (  # a user turn is closed by nothing: the next role's header follows the text directly
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}{{ '<|User|>' + message['content'] }}"
    "{% else %}{{ '<|Assistant|>' + message['content'] + eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|Assistant|>' }}{% endif %}"
)
PLAIN = (
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + '\n\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


@pytest.mark.parametrize(("template", "prefix", "marker"), [(DEEPSEEK_LIKE, "<s><|User|>", "<|Assistant|>"),
                                                            (PLAIN, "User: ", "Assistant:")])  # fmt: skip
def test_a_user_turn_closed_by_nothing_stops_at_the_assistant_header(template, prefix, marker):
    render = hf_render(template)
    assert check_pre_query_template(render, "org/m") == prefix
    assert end_of_user_turn(render) == marker


def test_a_template_with_no_marker_at_all_is_a_one_line_error():
    with pytest.raises(TemplateError, match="no end-of-turn marker or assistant header"):
        check_pre_query_template(hf_render("{% for m in messages %}{{ m['content'] }}{% endfor %}"), "org/m")
