"""SIGTERM to `synthloom serve` while a scheduled run holds the real embedded vLLM engine: vLLM's own
processes (`VLLM::EngineCore`, `VLLM::Worker`, children of the flow-run process the runner kills)
must be gone within --stop-grace, not orphaned holding memory (or a GPU). The hard case is forced:
the flow-run process is killed first, so vLLM's processes are already orphans when serve stops
(before the fix they went to init, out of serve's reach)."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.flows.live_prefect import serve_env, start_serve, stop_group, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.flow]

PIPELINE = """
dataset: realstop
shard_size: 4
sources:
  - kind: magpie
    magpie: {n: 64, instruction: {max_tokens: 64}, response: {temperature: 0.0, max_tokens: 256}}
heuristics: {min_instruction_words: 1}
"""
GRACE = 15


def vllm_processes(session: int) -> list[str]:
    """Live vLLM processes of a session (serve runs in its own), as 'pid name' strings."""
    out = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            text = " ".join([p.info["name"] or "", *(p.info["cmdline"] or [])])
            if "VLLM" in text and os.getsid(p.pid) == session and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {text[:100]}")
        except (psutil.Error, ProcessLookupError):
            continue
    return out


def test_sigterm_to_serve_ends_vllms_engine_processes(tmp_path, live_api):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    log = tmp_path / "serve.log"
    env = serve_env(live_api, tmp_path)
    env.pop("SYNTHLOOM_ENGINE_FACTORY")  # the real embedded engine, not a stand-in
    args = [str(tmp_path / "p.yaml"), "--every", "30", "--name", "realstop", "--stop-grace", str(GRACE)]
    proc = start_serve([*args, "--data-dir", str(tmp_path / "data")], env, log)
    try:
        wait_until(lambda: vllm_processes(proc.pid), 400, "vLLM's engine core to start", proc, log)
        time.sleep(3)  # let the engine start its work
        before = vllm_processes(proc.pid)
        core = next(psutil.Process(int(x.split()[0])) for x in before if "EngineCore" in x)
        os.kill(core.ppid(), signal.SIGKILL)  # the flow-run process dies: vLLM's processes are orphans now
        time.sleep(2)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=GRACE + 30)
        took = time.monotonic() - started
        deadline = started + GRACE
        while vllm_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = vllm_processes(proc.pid)
    finally:
        stop_group(proc)
    assert before, "no vLLM process seen"
    assert left == [], f"vLLM processes left {GRACE}s after SIGTERM: {left}\n{log.read_text()[-3000:]}"
    assert code == 0 and took <= GRACE + 10, (code, took, log.read_text()[-2000:])  # serve itself exits soon after
