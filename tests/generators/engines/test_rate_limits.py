"""The HTTP engine against a rate-limiting server on a real loopback socket (no mocked client):
every request answered exactly once, Retry-After honoured in both forms, concurrency adapted so that
429s become rare, and a request that outlives timeout_s retried."""

from __future__ import annotations

import time

import pytest

from generators.engines.openai_compat import OpenAICompatEngine
from generators.engines.rate_limit import retry_after_from, retry_after_seconds
from schemas.config import EngineConfig, OpenAIOptions, SamplingConfig
from tests.generators.engines.rate_limited_server import RateLimitedServer


def engine(url: str, **kw) -> OpenAICompatEngine:
    opts = OpenAIOptions(base_url=url, backoff_s=0.05, **{"max_concurrency": 16, "timeout_s": 10, **kw})
    return OpenAICompatEngine(EngineConfig(backend="openai", model="m", openai=opts, show_progress=False))


def run(server: RateLimitedServer, n: int, **kw) -> tuple[OpenAICompatEngine, list[str]]:
    e = engine(server.url, **kw)
    ids = [f"req-{i}" for i in range(n)]
    try:
        outs = e.complete(ids, [SamplingConfig(max_tokens=4)] * n)
    finally:
        e.close()
    assert [o.text for o in outs] == [f"answer to {i}" for i in ids]  # in order, each its own
    return e, ids


def late_429_share(server: RateLimitedServer) -> float:
    """429s per answered request over the second half of the run (after adapting)."""
    start, end = server.ok_times[0], server.ok_times[-1]
    half = start + (end - start) / 2
    late_ok = sum(1 for t in server.ok_times if t >= half)
    return sum(1 for t in server.limited if t >= half) / max(late_ok, 1)


@pytest.mark.parametrize("form", ["seconds", "date", "none"])
def test_every_request_is_answered_once_and_429s_become_rare(form):
    with RateLimitedServer(rate=50, burst=8, latency=0.1, retry_after=form) as server:
        e, ids = run(server, 200)
    print(form, e.limit.stats, f"late 429 share {late_429_share(server):.3f}", f"all 429s {len(server.limited)}")
    assert server.answered == {i: 1 for i in ids}  # none dropped, none duplicated
    assert e.limit.stats.lowest_window < 16  # it adapted
    assert late_429_share(server) < 0.05, (len(server.limited), e.limit.stats)


def test_retry_after_pauses_the_whole_engine():
    with RateLimitedServer(rate=2, burst=1, latency=0.0, retry_after="seconds") as server:
        started = time.monotonic()
        e, ids = run(server, 6, max_concurrency=4)
        took = time.monotonic() - started
    assert server.answered == {i: 1 for i in ids}
    assert took >= 2.0 and e.limit.stats.paused_s >= 1.0  # waited as told rather than hammering
    # after a 429 nothing is sent until its Retry-After (1 s) is over: 429s come in bursts of what was
    # already in flight, the bursts at least that far apart
    gaps = [b - a for a, b in zip(server.limited, server.limited[1:], strict=False)]
    assert all(g < 0.05 or g >= 0.95 for g in gaps), gaps


def test_a_request_past_timeout_is_retried_and_answered_once():
    with RateLimitedServer(rate=1000, burst=100, latency=0.0) as server:
        server.slow_first = {"req-1", "req-3"}
        _e, ids = run(server, 5, timeout_s=1.0, max_retries=2)
    assert server.answered == {i: 1 for i in ids}
    assert server.stalled == {"req-1": 1, "req-3": 1}


def test_retry_after_forms():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0  # in the past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert retry_after_seconds("99999") == 300.0  # capped
    assert retry_after_from({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
