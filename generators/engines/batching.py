"""Keep one in-process engine saturated while many shards run at once.

A shard is the unit of resume and should stay small (a kill loses little); the engine wants many
sequences in flight (measured here: 34 / 105 / 165 completion tok/s at 8 / 32 / 128 Magpie prompts).
`BatchingEngine` decouples the two: shard workers (threads) call `complete` / `chat` as usual and
block; one dispatcher thread gathers the requests of every waiting shard — raw completions, chats,
JSON-constrained judge calls, from any stage — into one engine call of up to `max_in_flight`
requests, then hands each caller its own results. So shard k's judge, shard k+1's Magpie responses
and shard k+2's instructions share a batch, and the engine is called from one thread only (vLLM's
`LLM` is not thread-safe).

The inner engine implements `prepare(kind, payload, params, json_schema)` and `run_prepared(items)`
(generators/engines/vllm_engine.py): any request becomes a token prompt plus its own sampling
parameters, so one `generate` call serves a mix.

Inner engines that can also `submit_prepared(items)` and `poll_finished()` (vLLM's own step loop)
are fed continuously: a request joins the running batch at the engine's next step and its caller is
answered as soon as it finishes, so one long sequence (a from-text JSON answer, a looping response)
no longer holds back the next turn of every other shard. Measured: BENCHMARKS.md, "make demo".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.config import SamplingConfig
from schemas.engine import ChatMessages, Completion, check_lengths

log = logging.getLogger(__name__)


class Preparable(Protocol):
    model_id: str

    def prepare(self, kind: str, payload: Any, params: SamplingConfig, json_schema: dict | None) -> Any: ...

    def run_prepared(self, items: Sequence[Any]) -> list[Completion]: ...

    def render_chat(self, messages: ChatMessages, add_generation_prompt: bool) -> str: ...

    def special_tokens(self) -> tuple[str, ...]: ...


class Streaming(Preparable, Protocol):
    """An inner engine with a step loop: requests added at any time, finished ones taken each step."""

    def submit_prepared(self, items: Sequence[Any]) -> list[str]: ...

    def poll_finished(self) -> list[tuple[str, Completion]]: ...


@dataclass
class _Request:
    kind: str  # "complete" or "chat"
    payload: Any  # prompt text or chat messages
    params: SamplingConfig
    json_schema: dict | None
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    completion_tokens: int = 0
    busy_s: float = 0.0
    largest: int = 0

    def line(self) -> str:
        rate = self.completion_tokens / self.busy_s if self.busy_s else 0.0
        mean = self.requests / self.batches if self.batches else 0.0
        return (
            f"engine: {self.requests} requests in {self.batches} batches (mean {mean:.0f}, largest {self.largest}), "
            f"{self.completion_tokens} completion tokens, {rate:.0f} tok/s while busy"
        )


class BatchingEngine:
    """Thread-safe Engine over one inner engine; see the module docstring."""

    def __init__(self, inner: Preparable, max_in_flight: int = 128, gather_s: float = 0.05):
        self.inner = inner
        self.model_id = inner.model_id
        self.max_in_flight = max_in_flight
        self.gather_s = gather_s
        self.stats = BatchStats()
        self._pending: list[_Request] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = 0  # requests in the engine call under way
        self._closed = False

    # -- Engine protocol ---------------------------------------------------------------------------
    def complete(self, prompts: Sequence[str], params: Sequence[SamplingConfig]) -> list[Completion]:
        check_lengths(prompts, params)
        return self._submit([_Request("complete", p, sp, None) for p, sp in zip(prompts, params, strict=True)])

    def chat(
        self,
        conversations: Sequence[ChatMessages],
        params: Sequence[SamplingConfig],
        json_schema: dict[str, Any] | None = None,
    ) -> list[Completion]:
        check_lengths(conversations, params)
        reqs = [_Request("chat", list(c), sp, json_schema) for c, sp in zip(conversations, params, strict=True)]
        return self._submit(reqs)

    def render_chat(self, messages: ChatMessages, add_generation_prompt: bool) -> str:
        return self.inner.render_chat(messages, add_generation_prompt)

    def special_tokens(self) -> tuple[str, ...]:
        return self.inner.special_tokens()

    # -- the dispatcher ---------------------------------------------------------------------------
    def _submit(self, reqs: list[_Request]) -> list[Completion]:
        if not reqs:
            return []
        with self._cond:
            self._ensure_thread()
            self._pending.extend(reqs)
            self._cond.notify_all()
        return [r.future.result() for r in reqs]

    def in_flight(self) -> int:
        """Requests waiting or in the engine call under way (the progress display reads this)."""
        with self._cond:
            return len(self._pending) + self._running

    def close(self) -> None:
        """Stop the dispatcher once the queued work is done, so the inner engine can be freed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def _ensure_thread(self) -> None:
        if self._closed:
            raise RuntimeError(f"the engine for {self.model_id} was released; it cannot take new requests")
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="engine-dispatcher", daemon=True)
            self._thread.start()

    def _take_batch(self) -> list[_Request] | None:
        """Wait for work; then keep gathering while requests still arrive (every `gather_s`), up to
        `max_in_flight`: shards that finish a step together land in the same engine call. None: closed."""
        with self._cond:
            while not self._pending:
                if self._closed:
                    return None
                self._cond.wait()
            seen = -1
            while len(self._pending) < self.max_in_flight and len(self._pending) != seen:
                seen = len(self._pending)
                self._cond.wait(self.gather_s)
            batch, self._pending = self._pending[: self.max_in_flight], self._pending[self.max_in_flight :]
            self._running = len(batch)
            return batch

    def _loop(self) -> None:
        if hasattr(self.inner, "submit_prepared") and hasattr(self.inner, "poll_finished"):
            self._stream()
            return
        while (batch := self._take_batch()) is not None:
            started = time.perf_counter()
            try:
                items = [self.inner.prepare(r.kind, r.payload, r.params, r.json_schema) for r in batch]
                outs = self.inner.run_prepared(items)
            except BaseException as err:  # every waiting caller gets the engine's own error
                for r in batch:
                    r.future.set_exception(err)
                continue
            finally:
                with self._cond:
                    self._running = 0
            for r, out in zip(batch, outs, strict=True):
                r.future.set_result(out)
            self._record(len(batch), sum(o.completion_tokens for o in outs), time.perf_counter() - started)

    def _stream(self) -> None:
        """Continuous feeding (module doc): add what waits while fewer than `max_in_flight` run, step
        the engine, answer what finished. An engine error fails every request then in the engine."""
        active: dict[str, _Request] = {}
        while True:
            new = self._take_batch() if not active else self._take_room(len(active))
            if new is None:
                return
            started = time.perf_counter()
            try:
                if new:
                    items = [self.inner.prepare(r.kind, r.payload, r.params, r.json_schema) for r in new]
                    active.update(zip(self.inner.submit_prepared(items), new, strict=True))
                done = self.inner.poll_finished()
            except BaseException as err:
                for r in [*active.values(), *new]:  # a submitted request is in both: answer it once
                    if not r.future.done():
                        r.future.set_exception(err)
                active.clear()
                self._set_running(0)
                continue
            for key, out in done:
                active.pop(key).future.set_result(out)
            self._set_running(len(active))
            self._record(len(new), sum(o.completion_tokens for _, o in done), time.perf_counter() - started, len(done))

    def _take_room(self, running: int) -> list[_Request]:
        """Without waiting: what is pending, up to `max_in_flight` in the engine in all."""
        with self._cond:
            room = max(0, self.max_in_flight - running)
            new, self._pending = self._pending[:room], self._pending[room:]
            self._running = running + len(new)
            return new

    def _set_running(self, n: int) -> None:
        with self._cond:
            self._running = n

    def _record(self, n: int, tokens: int, seconds: float, finished: int | None = None) -> None:
        """One engine call (or, streaming, one step: `n` requests added, `finished` answered)."""
        s = self.stats
        s.requests += n
        s.batches += 1 if n else 0
        s.largest = max(s.largest, n if finished is None else self._running)
        s.completion_tokens += tokens
        s.busy_s += seconds
        if finished is None:
            log.info("engine batch: %d requests, %d tokens, %.1fs", n, tokens, seconds)
        elif n:
            log.info("engine: %d requests added, %d in flight", n, self._running)


_SHARED: dict[int, BatchingEngine] = {}
_SHARED_LOCK = threading.Lock()


def batched(inner: Any, max_in_flight: int) -> BatchingEngine:
    """The one BatchingEngine of this process for `inner` (all shard workers share its dispatcher)."""
    with _SHARED_LOCK:
        engine = _SHARED.get(id(inner))
        if engine is None or engine.inner is not inner:
            engine = _SHARED[id(inner)] = BatchingEngine(inner, max_in_flight)
        engine.max_in_flight = max_in_flight
        return engine


def live_stats() -> tuple[int, int] | None:
    """(requests in flight, completion tokens so far) over this process's batching engines; None
    when there is none (an HTTP or scripted engine, or Ray workers: they are not in this process)."""
    with _SHARED_LOCK:
        engines = list(_SHARED.values())
    if not engines:
        return None
    return sum(e.in_flight() for e in engines), sum(e.stats.completion_tokens for e in engines)


def release_batched(inner: Any) -> None:
    """Stop and forget the BatchingEngine over `inner` (before `inner` itself is freed)."""
    with _SHARED_LOCK:
        engine = _SHARED.pop(id(inner), None)
    if engine is not None:
        engine.close()
