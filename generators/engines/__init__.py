"""Engine backends behind one protocol (see base.Engine)."""

from __future__ import annotations

from schemas.config import EngineConfig
from schemas.engine import Completion, Engine

__all__ = ["Completion", "Engine", "make_engine", "release_engine"]


def make_engine(config: EngineConfig) -> Engine:
    """The engine for a config. vLLM engines are shared per process; HTTP engines are cheap."""
    if config.backend == "vllm":
        from generators.engines.vllm_engine import shared_vllm_engine

        return shared_vllm_engine(config)
    from generators.engines.openai_compat import OpenAICompatEngine

    return OpenAICompatEngine(config)


def release_engine(config: EngineConfig) -> bool:
    """Free the engine make_engine holds for this config (weights, KV cache, worker process), so
    another model fits. HTTP engines hold nothing. False when none was loaded."""
    if config.backend != "vllm":
        return False
    from generators.engines.vllm_engine import release_vllm_engine

    return release_vllm_engine(config)
