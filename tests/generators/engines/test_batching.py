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


class SteppedInner(Inner):
    """A step loop like vLLM's: each request needs as many steps as its text says, requests join
    between steps, and `poll_finished` returns the ones that just ended."""

    def __init__(self, step_s: float = 0.01):
        super().__init__()
        self.step_s, self.running, self.most = step_s, {}, 0
        self.ids = iter(range(1_000_000))

    def submit_prepared(self, items):
        self.threads.add(threading.current_thread().name)
        keys = []
        for kind, text, structured in items:
            key = f"k{next(self.ids)}"
            self.running[key] = [int(text.split(":")[0]), f"{kind}:{text}:{structured}"]
            keys.append(key)
        self.most = max(self.most, len(self.running))
        return keys

    def poll_finished(self):
        time.sleep(self.step_s)
        if self.fail:
            raise RuntimeError("engine died")
        done = []
        for key, state in list(self.running.items()):
            state[0] -= 1
            if state[0] <= 0:
                done.append((key, Completion(state[1], "stop", 1, 2)))
                del self.running[key]
        return done


def test_a_short_request_is_answered_while_a_long_one_still_runs():
    inner = SteppedInner()
    engine = BatchingEngine(inner, max_in_flight=8)
    finished: dict[str, float] = {}
    started = time.perf_counter()

    def ask(text: str) -> str:
        out = engine.complete([text], [SP])[0].text
        finished[text] = time.perf_counter() - started
        return out

    with ThreadPoolExecutor(4) as pool:
        long = pool.submit(ask, "300:long")
        time.sleep(0.05)  # the long one is already running when the short ones arrive
        shorts = [pool.submit(ask, f"3:s{i}") for i in range(3)]
        assert [f.result() for f in shorts] == [f"complete:3:s{i}:False" for i in range(3)]
        assert long.result() == "complete:300:long:False"
    assert max(finished[f"3:s{i}"] for i in range(3)) < finished["300:long"] / 2
    assert inner.threads == {"engine-dispatcher"} and engine.stats.requests == 4


def test_streaming_keeps_max_in_flight_and_an_error_reaches_the_requests_in_the_engine():
    inner = SteppedInner(step_s=0.0)
    engine = BatchingEngine(inner, max_in_flight=5)
    out = engine.complete([f"{1 + i % 3}:{i}" for i in range(23)], [SP] * 23)
    assert [c.text for c in out] == [f"complete:{1 + i % 3}:{i}:False" for i in range(23)]
    assert inner.most == 5
    inner.fail = True
    with pytest.raises(RuntimeError, match="engine died"):
        engine.complete(["2:x", "4:y"], [SP, SP])
    inner.fail = False
    assert engine.complete(["1:z"], [SP])[0].text == "complete:1:z:False"
