"""Shared fixtures. The real vLLM engine is created once per test session (it is slow to load)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def real_engine():
    """The embedded model on in-process vLLM, with the same config the CLI uses by default, so the
    CLI tests reuse this engine instead of loading a second one."""
    from generators.engines import make_engine
    from schemas.config import EngineConfig

    yield make_engine(EngineConfig())
    from generators.engines.vllm_engine import shutdown_engines

    shutdown_engines()


@pytest.fixture(scope="session")
def embedded_dir():
    from generators.engines.models import embedded_model_dir

    return embedded_model_dir()


@pytest.fixture(scope="session")
def vllm_server(embedded_dir, tmp_path_factory):
    """vLLM's OpenAI-compatible server on the embedded model (tests/vllm_server.py), once per session;
    a test that kills it must start it again. Only integration tests ask for it."""
    from tests.vllm_server import VllmServer

    server = VllmServer(embedded_dir, tmp_path_factory.mktemp("vllm-server") / "server.log").start()
    yield server
    server.kill()
