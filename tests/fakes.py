"""A scripted engine double for unit tests of pipeline logic (no model, no network)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jinja2

from schemas.config import SamplingConfig
from schemas.engine import ChatMessages, Completion, check_lengths

# The same shape as SmolLM2's ChatML template: a default system turn when none is given.
CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3 = (
    "{{ '<|begin_of_text|>' }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

Script = Callable[[str, SamplingConfig], str | Completion]


def _as_completion(out: str | Completion) -> Completion:
    return out if isinstance(out, Completion) else Completion(out, "stop", 10, max(1, len(out.split())))


class ScriptedEngine:
    """Answers raw completions with `on_complete(prompt, params)` and chats with `on_chat(...)`."""

    def __init__(
        self,
        on_complete: Script,
        on_chat: Callable[[list[dict[str, str]], SamplingConfig], str | Completion],
        template: str = CHATML,
        specials: tuple[str, ...] = ("<|im_start|>", "<|im_end|>"),
    ):
        self.model_id = "scripted"
        self.on_complete = on_complete
        self.on_chat = on_chat
        self.template = jinja2.Environment().from_string(template)
        self.specials = specials
        self.calls: list[tuple[str, int]] = []
        self.json_schemas: list[Any] = []

    def complete(self, prompts: Sequence[str], params: Sequence[SamplingConfig]) -> list[Completion]:
        check_lengths(prompts, params)
        self.calls.append(("complete", len(prompts)))
        return [_as_completion(self.on_complete(p, sp)) for p, sp in zip(prompts, params, strict=True)]

    def chat(
        self,
        conversations: Sequence[ChatMessages],
        params: Sequence[SamplingConfig],
        json_schema: dict[str, Any] | None = None,
    ) -> list[Completion]:
        check_lengths(conversations, params)
        self.calls.append(("chat", len(conversations)))
        self.json_schemas.append(json_schema)
        return [_as_completion(self.on_chat(list(c), sp)) for c, sp in zip(conversations, params, strict=True)]

    def render_chat(self, messages: ChatMessages, add_generation_prompt: bool) -> str:
        return self.template.render(messages=list(messages), add_generation_prompt=add_generation_prompt)

    def special_tokens(self) -> tuple[str, ...]:
        return self.specials


def calibration_label(prompt: str) -> str | None:
    """'good' / 'bad' when `prompt` is the judge's prompt for a row of the shipped calibration set."""
    from filters.calibration import load_set

    for row in load_set()[1]:
        if row["response"].strip() in prompt and row["instruction"].strip() in prompt:
            return row["label"]
    return None


def informed_verdict(prompt: str) -> str | None:
    """A judge that knows the calibration set's labels (passes calibration): JSON verdict or None."""
    import json

    label = calibration_label(prompt)
    if label is None:
        return None
    quality = 5 if label == "good" else 1
    return json.dumps({"quality": quality, "difficulty": "easy", "category": "other", "rationale": label})
