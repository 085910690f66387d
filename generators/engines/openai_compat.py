"""Engine backend for any OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions).

Requests run concurrently (bounded by `max_concurrency`), each with a timeout; connection errors,
429 and 5xx are retried with exponential backoff. When the server stays unreachable the error names
the URL and how to start one. Chat templates (which Magpie needs) come from a local tokenizer.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

import httpx
from tqdm import tqdm

from schemas.config import EngineConfig, SamplingConfig
from schemas.engine import ChatMessages, Completion, TokenLogprobs, check_lengths
from schemas.errors import EngineUnavailableError

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAICompatEngine:
    def __init__(self, config: EngineConfig):
        self.config = config
        self.opts = config.openai
        self.base_url = self.opts.base_url.rstrip("/")
        self.model_id = config.model
        self._tokenizer: Any = None

    # -- Engine protocol ---------------------------------------------------------------------------
    def complete(self, prompts: Sequence[str], params: Sequence[SamplingConfig]) -> list[Completion]:
        check_lengths(prompts, params)
        bodies = [{"prompt": p, **_sampling_body(sp)} for p, sp in zip(prompts, params, strict=True)]
        return self._run_all("/completions", bodies, _parse_completion)

    def chat(
        self,
        conversations: Sequence[ChatMessages],
        params: Sequence[SamplingConfig],
        json_schema: dict[str, Any] | None = None,
    ) -> list[Completion]:
        check_lengths(conversations, params)
        extra: dict[str, Any] = {}
        if json_schema is not None:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "verdict"), "schema": json_schema, "strict": True},
            }
        bodies = [{"messages": list(m), **_chat_body(sp), **extra} for m, sp in zip(conversations, params, strict=True)]
        return self._run_all("/chat/completions", bodies, _parse_chat)

    def render_chat(self, messages: ChatMessages, add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def special_tokens(self) -> tuple[str, ...]:
        return tuple(self.tokenizer.all_special_tokens)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = _load_tokenizer(self.opts.tokenizer)
        return self._tokenizer

    # -- HTTP --------------------------------------------------------------------------------------
    def _run_all(self, path: str, bodies: list[dict[str, Any]], parse: Any) -> list[Completion]:
        return _run_sync(self._gather(path, bodies, parse))

    async def _gather(self, path: str, bodies: list[dict[str, Any]], parse: Any) -> list[Completion]:
        sem = asyncio.Semaphore(self.opts.max_concurrency)
        bar = tqdm(total=len(bodies), desc=f"{self.model_id} {path}", disable=not self.config.show_progress)
        headers = {}
        key = os.environ.get(self.opts.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=self.opts.timeout_s) as client:

            async def one(body: dict[str, Any]) -> Completion:
                async with sem:
                    data = await self._post(client, path, {"model": self.model_id, **body})
                    bar.update(1)
                    return parse(data)

            try:
                return list(await asyncio.gather(*(one(b) for b in bodies)))
            finally:
                bar.close()

    async def _post(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        last = ""
        for attempt in range(self.opts.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.opts.backoff_s * 2 ** (attempt - 1))
            try:
                resp = await client.post(path, json=body)
            except httpx.TransportError as err:
                last = f"{type(err).__name__}: {err}"
                continue
            if resp.status_code in RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                continue
            if resp.status_code >= 400:
                raise EngineUnavailableError(
                    f"{url} rejected the request with HTTP {resp.status_code}: {resp.text[:500]} "
                    f"(check engine.model={self.model_id!r} is a model the server serves)"
                )
            return resp.json()
        raise EngineUnavailableError(
            f"OpenAI-compatible server at {url} failed {self.opts.max_retries + 1} times; last error: {last}. "
            "Is it running? Start one with `python -m vllm.entrypoints.openai.api_server --model FOLDER`, "
            "or set engine.openai.base_url."
        )


def _sampling_body(sp: SamplingConfig) -> dict[str, Any]:
    body: dict[str, Any] = {"temperature": sp.temperature, "top_p": sp.top_p, "max_tokens": sp.max_tokens}
    if sp.stop:
        body["stop"] = list(sp.stop)
    if sp.seed is not None:
        body["seed"] = sp.seed
    if sp.repetition_penalty != 1.0:  # a vLLM extension; plain OpenAI servers may refuse it
        body["repetition_penalty"] = sp.repetition_penalty
    return body


def _chat_body(sp: SamplingConfig) -> dict[str, Any]:
    body = _sampling_body(sp)
    if sp.logprobs is not None:  # the server answers in choices[0].logprobs.content
        body["logprobs"] = True
        body["top_logprobs"] = sp.logprobs
    return body


def _usage(data: dict[str, Any]) -> tuple[int, int]:
    usage = data.get("usage") or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def _parse_completion(data: dict[str, Any]) -> Completion:
    choice = data["choices"][0]
    return Completion(choice.get("text") or "", _finish(choice), *_usage(data))


def _parse_chat(data: dict[str, Any]) -> Completion:
    choice = data["choices"][0]
    text = (choice.get("message") or {}).get("content") or ""
    return Completion(text, _finish(choice), *_usage(data), logprobs=_chat_logprobs(choice))


def _chat_logprobs(choice: dict[str, Any]) -> tuple[TokenLogprobs, ...]:
    content = (choice.get("logprobs") or {}).get("content") or []
    return tuple(
        TokenLogprobs(
            t.get("token", ""), {a.get("token", ""): float(a.get("logprob", 0.0)) for a in t.get("top_logprobs") or []}
        )
        for t in content
    )


def _finish(choice: dict[str, Any]) -> str:
    return "length" if choice.get("finish_reason") == "length" else "stop"


def _load_tokenizer(ref: str | None) -> Any:
    from transformers import AutoTokenizer

    from generators.engines.models import resolve_model

    if ref is None:
        raise EngineUnavailableError(
            "this stage needs the model's chat template, which an OpenAI-compatible API does not expose: "
            "set engine.openai.tokenizer to 'embedded' or to a local folder holding the model's tokenizer"
        )
    return AutoTokenizer.from_pretrained(str(resolve_model(ref, allow_hub_download=False)))


def _run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, also from code already inside an event loop (then in a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
