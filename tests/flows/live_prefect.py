"""Helpers for the `serve` tests that need the real Prefect scheduler: a Prefect server started as a
subprocess (own port, own PREFECT_HOME and SQLite database), `synthloom serve` as a subprocess with
a scripted engine, and the process tree of a pid. Also the scripted engine factory those flow-run
processes load through $SYNTHLOOM_ENGINE_FACTORY (tests.flows.live_prefect:scripted_engine)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import psutil

from tests.fakes import ScriptedEngine

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SLEEP_ENV = "SYNTHLOOM_TEST_ENGINE_SLEEP"  # seconds each generate call sleeps
TRACE_ENV = "SYNTHLOOM_TEST_ENGINE_TRACE"  # a JSONL file of {"event", "pid", "t"}

PIPELINE = """
dataset: ticks
shard_size: 2
engine: {backend: openai, model: scripted}   # replaced by $SYNTHLOOM_ENGINE_FACTORY
sources:
  - kind: magpie
    magpie: {n: 2}
heuristics: {min_instruction_words: 1}
"""


CHILD_ENV = "SYNTHLOOM_TEST_ENGINE_CHILD"  # "1": the engine starts a child process, as vLLM's engine core
_children: list[subprocess.Popen] = []


class SlowEngine(ScriptedEngine):
    """Each `complete` call (one per shard) sleeps $SYNTHLOOM_TEST_ENGINE_SLEEP seconds and appends
    a start and an end event to $SYNTHLOOM_TEST_ENGINE_TRACE."""

    def complete(self, prompts, params):
        trace("start")
        time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
        out = super().complete(prompts, params)
        trace("end")
        return out


def trace(event: str) -> None:
    if path := os.environ.get(TRACE_ENV):
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "pid": os.getpid(), "t": time.time()}) + "\n")


def read_trace(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def start_child_once() -> None:
    """With $SYNTHLOOM_TEST_ENGINE_CHILD=1: one child process per engine process, as vLLM's engine core."""
    if os.environ.get(CHILD_ENV) == "1" and not _children:
        _children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))


def scripted_engine(cfg) -> ScriptedEngine:
    """Unique questions (so dedup keeps every run's rows); optionally slow, traced, with a child."""
    start_child_once()
    return SlowEngine(
        lambda prompt, params: f"What is the story behind item {uuid.uuid4().hex[:10]}?",
        lambda messages, params: "A story long enough to keep as an answer.",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {
        **env,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    }


@contextmanager
def prefect_server(tmp: Path, timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real `prefect server start` on a free port; yields its API URL and process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = open(tmp / "server.log", "w")  # noqa: SIM115
    cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=server_env(tmp / "prefect"), start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            assert proc.poll() is None, (tmp / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "prefect server did not start"
            time.sleep(1)
        yield url, proc
    finally:
        stop_group(proc)
        log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def flow_runs(api_url: str, deployment: str) -> list[dict]:
    """Flow runs of deployment `synthloom-pipeline/NAME`, straight from the REST API."""
    dep = httpx.get(f"{api_url}/deployments/name/synthloom-pipeline/{deployment}", timeout=10).json()
    body = {"deployments": {"id": {"any_": [dep["id"]]}}, "sort": "EXPECTED_START_TIME_ASC"}
    return httpx.post(f"{api_url}/flow_runs/filter", json=body, timeout=10).json()


def serve_env(api_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {
        **env,
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(tmp / "prefect-client"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PYTHONPATH": str(REPO),
        "SYNTHLOOM_ENGINE_FACTORY": "tests.flows.live_prefect:scripted_engine",
        **extra,
    }


def start_serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "w")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(
        [str(BIN / "synthloom"), "serve", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Test teardown: the whole process group, whatever state it is in."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(procs: list[psutil.Process]) -> list[str]:
    """Those still running (zombies count as gone), as 'pid cmdline' for assertion messages."""
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return out


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        tail = log.read_text()[-4000:] if log is not None and log.exists() else ""
        assert proc is None or proc.poll() is None, f"synthloom serve exited:\n{tail}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{tail}"
        time.sleep(1)
