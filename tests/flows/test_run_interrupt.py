"""SIGTERM to `synthloom run` mid-run: it ends every process it started (here the engine's own child,
as vLLM's engine core would be) and exits, not left waiting on anything. Scripted, slow engine."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.flows.live_prefect import CHILD_ENV, PIPELINE, SLEEP_ENV, TRACE_ENV, alive, descendants, read_trace
from tests.flows.test_pipeline_resume import cli_env

pytestmark = pytest.mark.flow

REPO = Path(__file__).resolve().parents[2]


def test_sigterm_to_run_ends_its_processes_and_exits(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    trace = tmp_path / "trace.jsonl"
    env = {
        **cli_env(),
        "PYTHONPATH": str(REPO),
        "SYNTHLOOM_ENGINE_FACTORY": "tests.flows.live_prefect:scripted_engine",
        SLEEP_ENV: "300",
        TRACE_ENV: str(trace),
        CHILD_ENV: "1",
    }
    synthloom = Path(subprocess.sys.executable).with_name("synthloom")
    args = [str(synthloom), "run", str(tmp_path / "p.yaml"), "--data-dir", str(tmp_path / "data")]
    with open(tmp_path / "run.log", "w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not read_trace(trace):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-2000:]
            time.sleep(0.5)
        tree = descendants(proc.pid)
        assert alive(tree), "the engine's child is not running"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "run.log").read_text()
    assert code != 0 and took < 20, (code, took, log[-2000:])
    assert "interrupted: stopped this run's processes" in log
    time.sleep(0.5)
    assert alive(tree) == [], "left behind"
    assert not (tmp_path / "data" / "datasets" / "ticks" / "v1").exists()
