"""Derive Magpie's pre-query template from a model's own chat template.

Render a conversation whose next user message is a sentinel, cut at the sentinel: what comes
before it is exactly the text the model sees before a user writes. This covers ChatML, Llama-3,
Gemma, Phi-3, Mistral... without a per-model table, and works mid-conversation for multi-turn.
"""

from __future__ import annotations

from collections.abc import Callable

from generators.engines.base import ChatMessages

SENTINEL = "\u2063SYNTHLOOM_SENTINEL\u2063"
Render = Callable[[ChatMessages, bool], str]


class TemplateError(ValueError):
    pass


def _system(system_prompt: str | None) -> list[dict[str, str]]:
    return [] if system_prompt is None else [{"role": "system", "content": system_prompt}]


def pre_query_prefix(render: Render, history: ChatMessages = (), system_prompt: str | None = None) -> str:
    """Text up to (not including) the next user message's content."""
    messages = [*_system(system_prompt), *history, {"role": "user", "content": SENTINEL}]
    text = render(messages, False)
    cut = text.find(SENTINEL)
    if cut < 0:
        raise TemplateError("the chat template dropped the user message; cannot derive a pre-query template")
    return text[:cut]


def end_of_user_turn(render: Render) -> str:
    """The marker that closes a user turn (e.g. '<|im_end|>'), used as a stop string."""
    text = render([{"role": "user", "content": SENTINEL}], False)
    tail = text[text.find(SENTINEL) + len(SENTINEL) :]
    marker = tail.strip().split("\n")[0].strip()
    if not marker:
        raise TemplateError("the chat template has no end-of-turn marker after a user message")
    return marker
