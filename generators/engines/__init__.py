"""Engine backends behind one protocol (see base.Engine)."""

from __future__ import annotations

import threading

from schemas.config import EngineConfig
from schemas.engine import Completion, Engine

__all__ = ["Completion", "Engine", "built_engines", "describe_engine", "make_engine", "release_engine"]

_BUILT: list[str] = []  # what make_engine built in this process, in order: "vllm:/path" or "openai:name @ url"
_BUILT_LOCK = threading.Lock()


def describe_engine(config: EngineConfig) -> str:
    """Which model a config runs, in one phrase: backend, model, and where (path or base_url)."""
    if config.backend == "openai":
        return f"openai:{config.model} @ {config.openai.base_url.rstrip('/')}"
    return f"vllm (in-process):{config.model}"


def make_engine(config: EngineConfig) -> Engine:
    """The engine for a config, shared per process (a vLLM model loads once; an HTTP engine keeps one
    connection pool and one adaptive concurrency window for every shard)."""
    with _BUILT_LOCK:
        label = describe_engine(config)
        if label not in _BUILT:
            _BUILT.append(label)
    if config.backend == "vllm":
        from generators.engines.vllm_engine import shared_vllm_engine

        return shared_vllm_engine(config)
    from generators.engines.openai_compat import shared_http_engine

    return shared_http_engine(config)


def built_engines() -> list[str]:
    """Every engine make_engine built in this process (the run summary prints them, so a run on a
    model other than the configured one cannot hide)."""
    with _BUILT_LOCK:
        return list(_BUILT)


def release_engine(config: EngineConfig) -> bool:
    """Free the engine make_engine holds for this config (weights, KV cache, worker process; for HTTP
    the connection pool and its loop thread), so another model fits. False when none was loaded."""
    if config.backend != "vllm":
        from generators.engines.openai_compat import release_http_engine

        return release_http_engine(config)
    from generators.engines.vllm_engine import release_vllm_engine

    return release_vllm_engine(config)
