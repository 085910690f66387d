"""How an HTTP engine behaves under a server's rate limits: Retry-After, and adaptive concurrency.

`AdaptiveLimit` is one engine's concurrency window, shared by every shard that uses the engine:
- AIMD: on a 429 the window halves (once per window of requests: the 429s of requests sent
  together halve it once), never below 1; on a success it grows by 1/window (one per window of
  successes, as TCP's congestion avoidance), never above `max_concurrency`.
- After a 429 the window stays below the size that drew it (`ceiling`) and probes one higher only
  every PROBE_EVERY successes. Growing straight back (one per success) makes a limit of a few
  requests in flight draw a 429 every few requests; probing rarely keeps that under a few percent.
- A `Retry-After` (or `retry-after-ms`) pauses the whole engine, not just the request that got it.
It lives on the engine's own event loop, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

MAX_RETRY_AFTER_S = 300.0  # a server asking for longer than this is treated as asking for this
PROBE_EVERY = 50  # successes between probes above the window that last drew a 429


def retry_after_from(headers: Any) -> float | None:
    """Seconds to wait from a response's headers: `retry-after-ms` (OpenAI, Azure) first, else
    `Retry-After` (delta-seconds or an HTTP-date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return min(max(float(ms) / 1000.0, 0.0), MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    return retry_after_seconds(headers.get("retry-after"))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date; None when absent or
    unreadable. Never negative, capped at MAX_RETRY_AFTER_S."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


@dataclass
class LimitStats:
    """What the limit saw: the figures the README and BENCHMARKS quote."""

    sent: int = 0
    ok: int = 0
    rate_limited: int = 0  # 429 answers
    retried: int = 0  # every retry, whatever the cause
    lowest_window: int = 0
    paused_s: float = 0.0


class AdaptiveLimit:
    """AIMD concurrency window + engine-wide Retry-After pause (see the module docstring)."""

    def __init__(self, max_concurrency: int):
        self.max = max_concurrency
        self.window = float(max_concurrency)
        self.in_flight = 0
        self.resume_at = 0.0  # time.monotonic() before which no request is sent
        self.epoch = 0  # bumped at each halving: 429s to requests sent before it do not halve again
        self.ceiling = float(max_concurrency)  # the window grows up to here; one probe above per PROBE_EVERY
        self.until_probe = PROBE_EVERY
        self.stats = LimitStats(lowest_window=max_concurrency)
        self._changed = asyncio.Condition()

    async def acquire(self) -> int:
        """Wait for a slot (and for any Retry-After pause); returns the epoch to hand to `release`."""
        async with self._changed:
            while True:
                wait = self.resume_at - time.monotonic()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), timeout=wait)
                    continue
                if self.in_flight < int(self.window):
                    self.in_flight += 1
                    self.stats.sent += 1
                    return self.epoch
                await self._changed.wait()

    async def release(self, epoch: int, outcome: str, retry_after: float | None = None) -> None:
        """outcome: 'ok', 'rate_limited' (429), or 'error' (anything else retried or failed)."""
        async with self._changed:
            self.in_flight -= 1
            if outcome == "ok":
                self.stats.ok += 1
                self.until_probe -= 1
                if self.until_probe <= 0:
                    self.ceiling, self.until_probe = min(float(self.max), self.ceiling + 1), PROBE_EVERY
                self.window = min(self.ceiling, self.window + 1.0 / max(self.window, 1.0))
            elif outcome == "rate_limited":
                self.stats.rate_limited += 1
                if epoch == self.epoch:
                    self.epoch += 1
                    self.ceiling = max(1.0, float(int(self.window)) - 1)
                    self.window = max(1.0, self.window / 2)
                    self.until_probe = PROBE_EVERY
                self.stats.lowest_window = min(self.stats.lowest_window, int(self.window))
            if retry_after is not None and retry_after > 0:
                until = time.monotonic() + retry_after
                if until > self.resume_at:
                    self.stats.paused_s += until - max(self.resume_at, time.monotonic())
                    self.resume_at = until
            self._changed.notify_all()
