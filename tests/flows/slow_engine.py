"""A scripted engine for `synthloom run` subprocesses (SYNTHLOOM_ENGINE_FACTORY=tests.flows.slow_engine:engine):
slow enough that many shards are in flight at once, and it reports, under $SLOW_ENGINE_DIR, how many
engine calls are running right now (`inflight`) and which conversations it generated (`seeds-PID`).
With $SLOW_ENGINE_NOISE set it also writes vLLM-like noise to every channel a real engine uses;
with $SLOW_ENGINE_YIELD set, about 30 % of its instructions are usable (the rest Magpie rejects)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from tests.fakes import ScriptedEngine

DELAY_S = float(os.environ.get("SLOW_ENGINE_DELAY_S", "0.5"))
VERDICT = json.dumps({"quality": 4, "difficulty": "easy", "category": "other", "rationale": "fine"})
_lock = threading.Lock()
_inflight = 0


def _state() -> Path:
    return Path(os.environ["SLOW_ENGINE_DIR"])


def _enter(delta: int) -> None:
    global _inflight
    with _lock:
        _inflight += delta
        tmp = _state() / f".inflight-{os.getpid()}"
        tmp.write_text(str(_inflight))
        tmp.replace(_state() / "inflight")


class SlowEngine(ScriptedEngine):
    def complete(self, prompts, params):
        with open(_state() / f"seeds-{os.getpid()}", "a") as fh:
            fh.write("".join(f"{sp.seed}\n" for sp in params))
        return self._slow(super().complete, prompts, params)

    def chat(self, conversations, params, json_schema=None):
        return self._slow(super().chat, conversations, params, json_schema)

    @staticmethod
    def _slow(call, *args):
        _enter(+1)
        try:
            time.sleep(DELAY_S)
            return call(*args)
        finally:
            _enter(-1)


def _noise() -> None:
    logging.getLogger("vllm.engine").warning("VLLM-NOISE from the vllm logger")
    print("VLLM-NOISE on stdout", flush=True)
    print("VLLM-NOISE on stderr", file=sys.stderr, flush=True)
    os.write(2, b"VLLM-NOISE on fd 2 (C++, worker processes)\n")


def engine(cfg) -> SlowEngine:
    from tests.flows.live_prefect import start_child_once

    start_child_once()  # with $SYNTHLOOM_TEST_ENGINE_CHILD=1, as vLLM's engine core
    if os.environ.get("SLOW_ENGINE_NOISE"):
        _noise()

    def on_chat(messages, params):
        return VERDICT if "### Reply" in messages[-1]["content"] else "A plain answer that is long enough to keep."

    if os.environ.get("SLOW_ENGINE_YIELD"):  # ~30 % usable instructions, no near-duplicates among them
        from tests.flows.run.test_core import instruction
        from tests.flows.run.test_rounds import usable

        return SlowEngine(lambda p, sp: instruction(sp.seed) if usable(sp.seed) else "Hi", on_chat)
    return SlowEngine(lambda p, sp: f"How does thing {sp.seed} work in practice, step by step?", on_chat)
