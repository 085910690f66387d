"""BatchingEngine: many threads' requests merged into few engine calls, each caller gets its own
results, errors reach every caller. A scripted inner engine stands in for vLLM."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from generators.engines.batching import BatchingEngine, batched
from schemas.config import SamplingConfig
from schemas.engine import Completion


class Inner:
    """Records each engine call's size; answers with the request's own text."""

    model_id = "inner"

    def __init__(self, delay: float = 0.05, fail: bool = False):
        self.calls: list[int] = []
        self.delay = delay
        self.fail = fail
        self.threads: set[str] = set()

    def prepare(self, kind, payload, params, json_schema=None):
        text = payload if kind == "complete" else payload[-1]["content"]
        return (kind, text, json_schema is not None)

    def run_prepared(self, items):
        self.threads.add(threading.current_thread().name)
        self.calls.append(len(items))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("engine died")
        return [Completion(f"{k}:{t}:{j}", "stop", 1, 2) for k, t, j in items]

    def render_chat(self, messages, add_generation_prompt):
        return "rendered"

    def special_tokens(self):
        return ("<s>",)


SP = SamplingConfig()


def test_concurrent_shards_share_engine_calls_and_get_their_own_results():
    inner = Inner()
    engine = BatchingEngine(inner, max_in_flight=64, gather_s=0.05)

    def shard(i: int) -> list[str]:
        a = engine.complete([f"q{i}-{j}" for j in range(4)], [SP] * 4)
        b = engine.chat([[{"role": "user", "content": f"c{i}"}]], [SP], json_schema={"type": "object"})
        return [c.text for c in a + b]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(shard, range(8)))
    for i, texts in enumerate(results):
        assert texts == [f"complete:q{i}-{j}:False" for j in range(4)] + [f"chat:c{i}:True"]
    assert sum(inner.calls) == 40 and len(inner.calls) <= 4  # 8 shards x 2 steps, merged
    assert inner.threads == {"engine-dispatcher"}  # the engine is only ever called from one thread
    assert engine.stats.requests == 40 and engine.stats.completion_tokens == 80


def test_max_in_flight_caps_one_call():
    inner = Inner(delay=0.0)
    engine = BatchingEngine(inner, max_in_flight=10)
    out = engine.complete([str(i) for i in range(25)], [SP] * 25)
    assert [c.text for c in out] == [f"complete:{i}:False" for i in range(25)]
    assert inner.calls == [10, 10, 5]


def test_an_engine_error_reaches_every_waiting_caller_and_the_dispatcher_survives():
    inner = Inner(fail=True)
    engine = BatchingEngine(inner, max_in_flight=8)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(engine.complete, ["x"], [SP]) for _ in range(3)]
        for f in futures:
            with pytest.raises(RuntimeError, match="engine died"):
                f.result()
    inner.fail = False
    assert engine.complete(["y"], [SP])[0].text == "complete:y:False"


def test_empty_calls_and_the_shared_instance():
    inner = Inner()
    assert BatchingEngine(inner).complete([], []) == []
    assert batched(inner, 32) is batched(inner, 64) and batched(inner, 64).max_in_flight == 64
