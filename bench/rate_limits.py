"""The HTTP engine against a rate-limiting OpenAI-compatible server on loopback (a real socket; the
server is tests/generators/engines/rate_limited_server.py): per limit and Retry-After form, how many
requests drew a 429 (all, and over the second half of the run: after adapting), whether every
request was answered exactly once, the lowest concurrency window, and throughput as a share of the
limit. Rerun: .venv/bin/python bench/rate_limits.py"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generators.engines.openai_compat import OpenAICompatEngine
from schemas.config import EngineConfig, OpenAIOptions, SamplingConfig
from tests.generators.engines.rate_limited_server import RateLimitedServer

CASES = [  # (requests/s, burst, server seconds per request, Retry-After form, requests)
    (50, 8, 0.1, "seconds", 600),
    (50, 8, 0.1, "date", 600),
    (50, 8, 0.1, "none", 600),
    (20, 4, 0.3, "seconds", 300),
    (200, 20, 0.05, "seconds", 1500),
]


def one(rate: float, burst: int, latency: float, form: str, n: int) -> str:
    with RateLimitedServer(rate=rate, burst=burst, latency=latency, retry_after=form) as server:
        opts = OpenAIOptions(base_url=server.url, max_concurrency=16, backoff_s=0.05)
        engine = OpenAICompatEngine(EngineConfig(backend="openai", model="m", openai=opts, show_progress=False))
        ids = [f"req-{i}" for i in range(n)]
        started = time.monotonic()
        outs = engine.complete(ids, [SamplingConfig(max_tokens=4)] * n)
        took = time.monotonic() - started
        engine.close()
    exact = server.answered == {i: 1 for i in ids} and [o.text for o in outs] == [f"answer to {i}" for i in ids]
    half = server.ok_times[0] + (server.ok_times[-1] - server.ok_times[0]) / 2
    late_ok = sum(t >= half for t in server.ok_times)
    late = sum(t >= half for t in server.limited) / max(late_ok, 1)
    st = engine.limit.stats
    return (
        f"| {rate:g}/s burst {burst} | {latency:g}s | {form} | {n} | {'yes' if exact else 'NO'} | "
        f"{len(server.limited) / st.sent:.1%} | {late:.1%} | {st.lowest_window} | {n / took / rate:.0%} |"
    )


def main() -> None:
    print("| limit | server latency | Retry-After | requests | each answered once | 429 share (all) "
          "| 429 share (2nd half) | lowest window | throughput / limit |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for case in CASES:
        print(one(*case), flush=True)


if __name__ == "__main__":
    main()
