"""The engine protocol every backend implements, and what it returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.config import SamplingConfig

ChatMessages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class TokenLogprobs:
    """One generated token: its text and the top alternatives' log-probabilities (text -> logprob)."""

    text: str
    top: dict[str, float]


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop" or "length" (hit max_tokens)
    prompt_tokens: int
    completion_tokens: int
    logprobs: tuple[TokenLogprobs, ...] = ()  # filled when the sampling config asks for `logprobs`

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class Engine(Protocol):
    """A text generator. Calls are batched: hand over every prompt of a shard at once."""

    model_id: str

    def complete(self, prompts: Sequence[str], params: Sequence[SamplingConfig]) -> list[Completion]:
        """Raw completion: each prompt is sent as-is, no chat template applied."""
        ...

    def chat(
        self,
        conversations: Sequence[ChatMessages],
        params: Sequence[SamplingConfig],
        json_schema: dict[str, Any] | None = None,
    ) -> list[Completion]:
        """Chat completion; with `json_schema`, decoding is constrained to that schema."""
        ...

    def render_chat(self, messages: ChatMessages, add_generation_prompt: bool) -> str:
        """The model's own chat template applied to `messages`, as text."""
        ...

    def special_tokens(self) -> tuple[str, ...]:
        """Control tokens that must never appear inside generated text."""
        ...


def check_lengths(prompts: Sequence[Any], params: Sequence[SamplingConfig]) -> None:
    if len(prompts) != len(params):
        raise ValueError(f"{len(prompts)} prompts but {len(params)} sampling configs; pass one per prompt")


class NoEngine:
    """Stands in when a stage has nothing to ask a model: no model is loaded just to score nothing."""

    model_id = ""

    def chat(self, conversations: list, params: list, json_schema: Any = None) -> list:
        assert not conversations, "NoEngine got work"
        return []

    def complete(self, prompts: list, params: list) -> list:
        assert not prompts, "NoEngine got work"
        return []

    def special_tokens(self) -> tuple[str, ...]:
        return ()


NO_ENGINE: Any = NoEngine()
