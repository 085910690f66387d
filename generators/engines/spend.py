"""What a run spends on models, and the switch that stops it spending.

Every engine a pipeline stage calls is wrapped in `Metered`: before each batch it asks the process's
`METER` whether the run may go on (a budget reached or a graceful stop raises `Stopped`, so no new
batch starts; batches already sent finish), and after it adds the batch's tokens (and their cost,
when the engine has `prices`). The run core catches `Stopped` around a shard's stage: nothing of that
stage is checkpointed, its earlier stages are, and the run publishes what passed with
`stopped: <reason>`. One meter per process: a run arms it when it starts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.config import Budget, Prices, SamplingConfig
from schemas.engine import Completion, Engine


class Stopped(Exception):
    """No new engine batch may start: `reason` is 'budget' or 'interrupted'."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"stopped ({reason}){': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail


@dataclass
class Spent:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    priced: bool = True  # False once an engine without prices was called: `usd` is then a lower bound

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Meter:
    """Tokens, dollars and seconds of new engine work in this run, against its budget."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.arm(None)

    def arm(self, budget: Budget | None) -> None:
        """A new run starts: nothing spent, no stop, this budget (None: no caps)."""
        with self._lock:
            self.budget = budget
            self.spent = Spent()
            self.started = time.monotonic()
            self.reason: str | None = None
            self.detail = ""

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def stop(self, reason: str, detail: str = "") -> None:
        """Let no new batch start (the first reason given wins)."""
        with self._lock:
            if self.reason is None:
                self.reason, self.detail = reason, detail

    def check(self) -> None:
        """Raise Stopped when the run may not start another engine batch."""
        b = self.budget
        if self.reason is None and b is not None and b.max_seconds is not None and self.seconds() >= b.max_seconds:
            self.stop("budget", f"max_seconds={b.max_seconds:g} reached after {self.seconds():.0f} s")
        if self.reason is not None:
            raise Stopped(self.reason, self.detail)

    def add(self, prompt_tokens: int, completion_tokens: int, prices: Prices | None) -> None:
        with self._lock:
            s = self.spent
            s.prompt_tokens += prompt_tokens
            s.completion_tokens += completion_tokens
            if prices is None:
                s.priced = s.priced and not (prompt_tokens or completion_tokens)
            else:
                s.usd += prices.usd(prompt_tokens, completion_tokens)
        if (over := self._over()) is not None:
            self.stop("budget", over)

    def _over(self) -> str | None:
        b, s = self.budget, self.spent
        if b is None:
            return None
        if b.max_tokens is not None and s.tokens >= b.max_tokens:
            return f"max_tokens={b.max_tokens} reached: {s.tokens} tokens spent"
        if b.max_usd is not None and s.usd >= b.max_usd:
            return f"max_usd={b.max_usd:g} reached: ${s.usd:.4f} spent"
        return None

    def entry(self) -> dict[str, Any]:
        """This run's spending for the manifest's ledger."""
        s = self.spent
        return {
            "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens,
            "usd": round(s.usd, 6) if s.priced else None,
            "seconds": round(self.seconds(), 1),
        }


METER = Meter()


@contextlib.contextmanager
def metered_run(budget: Budget | None) -> Iterator[Meter]:
    """One run's spending: armed with its budget on entry, and no stop left over on exit (the next
    run in this process, or a test calling stages directly, starts clean)."""
    METER.arm(budget)
    try:
        yield METER
    finally:
        METER.arm(None)


class Metered:
    """An engine whose batches ask METER first and report their tokens after. Anything else (the chat
    template, special tokens, the tokenizer) passes through to the engine it wraps."""

    def __init__(self, engine: Engine, prices: Prices | None, meter: Meter = METER) -> None:
        self._engine, self._prices, self._meter = engine, prices, meter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def _counted(self, call: Any, *args: Any) -> list[Completion]:
        self._meter.check()
        try:
            outs = call(*args)
        except Exception as err:  # after a stop (Ctrl-C also reaches vLLM's engine processes): a stop, not a crash
            if self._meter.reason is not None:
                raise Stopped(self._meter.reason, f"the batch in flight ended: {type(err).__name__}") from err
            raise
        self._meter.add(sum(c.prompt_tokens for c in outs), sum(c.completion_tokens for c in outs), self._prices)
        return outs

    def complete(self, prompts: Sequence[str], params: Sequence[SamplingConfig]) -> list[Completion]:
        return self._counted(self._engine.complete, prompts, params) if prompts else []

    def chat(
        self, conversations: Sequence[Any], params: Sequence[SamplingConfig], json_schema: dict | None = None
    ) -> list[Completion]:
        return self._counted(self._engine.chat, conversations, params, json_schema) if conversations else []
