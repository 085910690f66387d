"""`python -m tests.flows.scripted_cli ARGS...`: the synthloom CLI with a scripted engine in place of
every model (no weights, no network), slowed down a little so concurrent runs overlap."""

from __future__ import annotations

import sys
import time

import flows.run.core
from flows.main import main
from tests.fakes import ScriptedEngine

DELAY_S = 0.5


def scripted(_cfg) -> ScriptedEngine:
    def on_complete(prompt, params):
        time.sleep(DELAY_S)
        return f"How does thing {params.seed} work in practice, step by step?"

    def on_chat(messages, params):
        return f"An answer about {messages[-1]['content'][:40]} that is long enough to keep, with detail."

    return ScriptedEngine(on_complete, on_chat)


if __name__ == "__main__":
    flows.run.core.make_engine = scripted  # looked up at call time by default_engine
    sys.argv = ["synthloom", *sys.argv[1:]]
    main()
