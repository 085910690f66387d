"""Engine backend for any OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions).

One engine per config and process (`shared_http_engine`), used by every shard worker thread at once.
Its requests run on the engine's own event loop thread, through one connection pool and one
`AdaptiveLimit` (generators/engines/rate_limit.py): concurrency adapts to the server's 429s across all
shards, and a `Retry-After` (seconds or HTTP-date) pauses the whole engine. Connection errors,
timeouts, 429 and 5xx are retried; each request yields exactly one result, in order. When the server
stays unreachable the error names the URL and says how to start one.
Chat templates (which Magpie needs) come from a local tokenizer, loaded once per process under a lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Sequence
from typing import Any

import httpx
from tqdm import tqdm

from generators.engines.rate_limit import AdaptiveLimit, retry_after_from
from generators.engines.vllm_engine import engine_key
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
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._limit: AdaptiveLimit | None = None

    def describe(self) -> str:
        return f"openai:{self.model_id} @ {self.base_url}"

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
        return shared_tokenizer(self.opts.tokenizer)

    @property
    def limit(self) -> AdaptiveLimit:
        """The engine's concurrency window and its figures (created with the event loop; kept after
        `close` so its figures can still be read)."""
        if self._limit is None:
            self._ensure_loop()
        assert self._limit is not None
        return self._limit

    # -- the engine's event loop ---------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name=f"http-{self.model_id}", daemon=True).start()
                self._limit = asyncio.run_coroutine_threadsafe(_make_limit(self.opts.max_concurrency), loop).result()
                self._loop = loop
            return self._loop

    def _run_all(self, path: str, bodies: list[dict[str, Any]], parse: Any) -> list[Completion]:
        if not bodies:
            return []
        loop = self._ensure_loop()
        return asyncio.run_coroutine_threadsafe(self._gather(path, bodies, parse), loop).result()

    def close(self) -> None:
        """Close the connection pool and stop the loop thread (a later call starts them again)."""
        with self._lock:
            loop, client, self._loop, self._client = self._loop, self._client, None, None
        if loop is None:
            return
        if client is not None:
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)

    def _http(self) -> httpx.AsyncClient:
        """The engine's client, made on its loop (called only from coroutines running there)."""
        if self._client is None:
            headers = {}
            if key := os.environ.get(self.opts.api_key_env):
                headers["Authorization"] = f"Bearer {key}"
            n = self.opts.max_concurrency
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=self.opts.timeout_s,
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
            )
        return self._client

    async def _gather(self, path: str, bodies: list[dict[str, Any]], parse: Any) -> list[Completion]:
        bar = tqdm(total=len(bodies), desc=f"{self.model_id} {path}", disable=not self.config.show_progress)

        async def one(body: dict[str, Any]) -> Completion:
            data = await self._post(path, {"model": self.model_id, **body})
            bar.update(1)
            return _parsed(parse, data, f"{self.base_url}{path}")

        tasks = [asyncio.ensure_future(one(b)) for b in bodies]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for t in tasks:  # one failed for good: the others stop too (nothing half-counted)
                t.cancel()
            bar.close()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request until it succeeds: errors count against max_retries; 429/503 with a server's
        Retry-After wait as told, bounded in total by max_rate_limit_wait_s."""
        url, limit, client = f"{self.base_url}{path}", self.limit, self._http()
        failures, waited, last = 0, 0.0, ""
        while True:
            epoch = await limit.acquire()
            outcome, retry_after = "error", None
            try:
                resp = await client.post(path, json=body)
            except httpx.TransportError as err:  # connect errors and timeouts: retried
                last = f"{type(err).__name__}: {err}".rstrip(": ")
            else:
                if resp.status_code < 400:
                    outcome = "ok"
                    return _json(resp, url)
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code not in RETRY_STATUS:
                    raise EngineUnavailableError(
                        f"{url} rejected the request with HTTP {resp.status_code}: {resp.text[:500]} "
                        f"(check engine.model={self.model_id!r} is a model the server serves)"
                    )
                if resp.status_code in (429, 503):
                    retry_after = retry_after_from(resp.headers)
                outcome = "rate_limited" if resp.status_code == 429 else "error"
            finally:
                await limit.release(epoch, outcome, retry_after)
            limit.stats.retried += 1
            if retry_after is not None or outcome == "rate_limited":
                pause = retry_after if retry_after is not None else self.opts.backoff_s * 2 ** min(failures, 6)
                waited += pause
                if waited > self.opts.max_rate_limit_wait_s:
                    raise EngineUnavailableError(
                        f"{url} kept rate-limiting for {waited:.0f}s (last: {last}); lower "
                        f"engine.openai.max_concurrency or raise max_rate_limit_wait_s"
                    )
                if retry_after is None:
                    await asyncio.sleep(pause)
                continue
            failures += 1
            if failures > self.opts.max_retries:
                raise EngineUnavailableError(
                    f"OpenAI-compatible server at {url} failed {failures} times; last error: {last}. Is it "
                    "running? (start one with `python -m vllm.entrypoints.openai.api_server --model FOLDER`, "
                    "or set engine.openai.base_url)"
                )
            await asyncio.sleep(self.opts.backoff_s * 2 ** (failures - 1))


async def _make_limit(n: int) -> AdaptiveLimit:
    return AdaptiveLimit(n)


def _json(resp: httpx.Response, url: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EngineUnavailableError(
            f"{url} answered HTTP {resp.status_code} with no JSON: {resp.text[:200]!r}"
        ) from None
    if not isinstance(data, dict):
        raise EngineUnavailableError(f"{url} answered a JSON {type(data).__name__}, not an object: {resp.text[:200]!r}")
    return data


def _parsed(parse: Any, data: dict[str, Any], url: str) -> Completion:
    try:
        return parse(data)
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EngineUnavailableError(
            f"{url} answered without the OpenAI fields (choices[0]...): {json.dumps(data)[:300]}"
        ) from None


_ENGINES: dict[str, OpenAICompatEngine] = {}
_ENGINES_LOCK = threading.Lock()


def shared_http_engine(config: EngineConfig) -> OpenAICompatEngine:
    """The process-wide HTTP engine for this config: one loop, one pool, one concurrency window
    shared by every shard (so the window adapts to the server as a whole)."""
    key = engine_key(config)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = OpenAICompatEngine(config)
    engine.config = config
    return engine


def release_http_engine(config: EngineConfig) -> bool:
    key = engine_key(config)
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(key, None)
    if engine is None:
        return False
    engine.close()
    return True


_TOKENIZERS: dict[str | None, Any] = {}
_TOKENIZER_LOCK = threading.Lock()


def shared_tokenizer(ref: str | None) -> Any:
    """The tokenizer for `ref`, loaded once per process. Under a lock: transformers' lazy imports
    are not thread-safe (six shard threads touching it at once raised ImportError: AutoTokenizer)."""
    with _TOKENIZER_LOCK:
        if ref not in _TOKENIZERS:
            _TOKENIZERS[ref] = _load_tokenizer(ref)
        return _TOKENIZERS[ref]


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
