"""SIGTERM / SIGINT stop `synthloom serve` within seconds during a run and leave no process behind
(the flow-run process and the engine's own child, as vLLM's engine core would be), also when the
Prefect server is already gone. Real subprocesses; the process tree is listed before the signal."""

from __future__ import annotations

import signal
import subprocess
import time
from contextlib import nullcontext

import pytest

from tests.flows.live_prefect import (
    CHILD_ENV,
    PIPELINE,
    SLEEP_ENV,
    TRACE_ENV,
    alive,
    descendants,
    flow_runs,
    prefect_server,
    read_trace,
    serve_env,
    start_serve,
    stop_group,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.flow]


def server_for(tmp_path, request, own: bool):
    """The session's live server, or (for the case that stops it) one of this test's own."""
    return prefect_server(tmp_path) if own else nullcontext((request.getfixturevalue("live_api"), None))


@pytest.mark.parametrize(("sig", "server_gone"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_a_signal_during_a_run_stops_serve_and_its_whole_process_tree(tmp_path, sig, server_gone, request):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    trace, log = tmp_path / "trace.jsonl", tmp_path / "serve.log"
    with server_for(tmp_path, request, own=server_gone) as (api, server):
        env = serve_env(api, tmp_path, **{SLEEP_ENV: "300", TRACE_ENV: str(trace), CHILD_ENV: "1"})
        args = [str(tmp_path / "p.yaml"), "--every", "30", "--name", "stop", "--stop-grace", "10"]
        proc = start_serve([*args, "--data-dir", str(tmp_path / "data")], env, log)
        try:
            wait_until(lambda: read_trace(trace), 400, "a run to reach the engine", proc, log)
            tree = descendants(proc.pid)
            assert len(alive(tree)) >= 3, alive(tree)  # multiprocessing tracker, flow-run process, engine child
            if server_gone:
                stop_group(server)
            started = time.monotonic()
            proc.send_signal(sig)
            code = proc.wait(timeout=40)
            took = time.monotonic() - started
            runs = [] if server_gone else flow_runs(api, "stop")
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve still running 40 s after {sig.name}:\n{log.read_text()[-3000:]}") from None
        finally:
            stop_group(proc)
    # --stop-grace 10 for the runner, then 5 s from SIGTERM to SIGKILL
    assert code == 0 and took < 25, (code, took, log.read_text()[-3000:])
    time.sleep(1)
    assert alive(tree) == [], "left behind"
    if not server_gone:
        # Cancelled when the run stops within --stop-grace; Crashed when serve had to kill it (a loaded
        # machine): either way it is over, never left Running or reported Completed.
        (state,) = [r["state"]["type"] for r in runs if r["start_time"]]
        assert state in ("CANCELLED", "CRASHED"), runs


def test_on_stop_finish_lets_the_current_run_publish_then_exits(tmp_path, live_api):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    trace, log = tmp_path / "trace.jsonl", tmp_path / "serve.log"
    with nullcontext((live_api, None)) as (api, _):
        env = serve_env(api, tmp_path, **{SLEEP_ENV: "10", TRACE_ENV: str(trace), CHILD_ENV: "1"})
        args = [str(tmp_path / "p.yaml"), "--every", "60", "--name", "finish", "--on-stop", "finish"]
        proc = start_serve([*args, "--data-dir", str(tmp_path / "data")], env, log)
        try:
            wait_until(lambda: read_trace(trace), 400, "a run to reach the engine", proc, log)
            tree = descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=400)
            runs = flow_runs(api, "finish")
        finally:
            stop_group(proc)
    assert code == 0, log.read_text()[-3000:]
    assert [r["state"]["type"] for r in runs if r["start_time"]] == ["COMPLETED"], runs
    assert (tmp_path / "data" / "datasets" / "ticks" / "v1" / "manifest.json").is_file()
    time.sleep(1)
    assert alive(tree) == [], "left behind"
