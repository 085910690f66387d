"""Derive Magpie's pre-query template from a model's own chat template.

Render a conversation whose next user message is a sentinel, cut at the sentinel: what comes
before it is exactly the text the model sees before a user writes. This covers ChatML, Llama-3,
Gemma, Phi-3, Mistral... without a per-model table, and works mid-conversation for multi-turn.
"""

from __future__ import annotations

from collections.abc import Callable

import jinja2

from schemas.engine import ChatMessages
from schemas.errors import ConfigError
from schemas.stage import system_turn

SENTINEL = "\u2063SYNTHLOOM_SENTINEL\u2063"
Render = Callable[[ChatMessages, bool], str]


class TemplateError(ConfigError, ValueError):
    """The chat template cannot give Magpie a pre-query template (a one-line, user-fixable error)."""


def pre_query_prefix(render: Render, history: ChatMessages = (), system_prompt: str | None = None) -> str:
    """Text up to (not including) the next user message's content."""
    messages = [*system_turn(system_prompt), *history, {"role": "user", "content": SENTINEL}]
    text = render(messages, False)
    cut = text.find(SENTINEL)
    if cut < 0:
        raise TemplateError("the chat template dropped the user message; cannot derive a pre-query template")
    return text[:cut]


def end_of_user_turn(render: Render) -> str:
    """The marker that closes a user turn (e.g. '<|im_end|>'), used as a stop string. A template that
    closes a user turn with nothing (DeepSeek's, ChatGLM's, plain "User: ... Assistant:" ones) is
    closed by the assistant header it opens next, so that is the marker then."""
    for add_generation_prompt in (False, True):
        text = render([{"role": "user", "content": SENTINEL}], add_generation_prompt)
        tail = text[text.find(SENTINEL) + len(SENTINEL) :]
        if marker := tail.strip().split("\n")[0].strip():
            return marker
    raise TemplateError("the chat template has no end-of-turn marker or assistant header after a user message")


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def check_pre_query_template(render: Render, model_id: str, system_prompt: str | None = None) -> str:
    """The pre-query prefix, verified before Magpie generates; a one-line TemplateError otherwise.

    Some chat templates silently drop system turns (Phi-3 style) and others refuse them (Gemma-2,
    Mistral raise "System role not supported" / "roles must alternate"): either way Magpie would
    generate from a different prompt than the config says, so it stops and says what to change.
    """
    fix = "set magpie.system_prompt: null, or use a model whose chat template has a system role"
    try:
        prefix = pre_query_prefix(render, (), system_prompt)
        end_of_user_turn(render)
    except TemplateError as err:
        raise TemplateError(f"model {model_id}: {err}") from None
    except (jinja2.TemplateError, ValueError, TypeError, KeyError, IndexError) as err:
        if system_prompt is not None:
            raise TemplateError(
                f"model {model_id}: its chat template refuses a system turn ({_one_line(err)}); {fix}"
            ) from None
        raise TemplateError(
            f"model {model_id}: its chat template cannot render a lone user turn ({_one_line(err)}); "
            "Magpie needs a template that does (use a chat model with its own template)"
        ) from None
    if system_prompt is not None and system_prompt.strip() not in prefix:
        raise TemplateError(
            f"model {model_id}: its chat template drops the system prompt (magpie.system_prompt is set, but the "
            f"pre-query template {prefix[-60:]!r} does not contain it); {fix}"
        )
    return prefix
