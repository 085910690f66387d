"""Ctrl-C / SIGTERM to `synthloom run`. The first signal stops it gracefully (no new model calls,
what passed is published as `stopped: interrupted`; a rerun publishes the rest); a second one ends
every process it started (here the engine's own child, as vLLM's engine core would be) and exits at
once. Scripted, slow engines in real `synthloom run` subprocesses."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from flows.store import DatasetStore
from tests.flows.live_prefect import CHILD_ENV, PIPELINE, SLEEP_ENV, TRACE_ENV, alive, descendants, read_trace
from tests.flows.test_pipeline_resume import checkpoints, cli_env, slow_engine_env, start

pytestmark = pytest.mark.flow

REPO = Path(__file__).resolve().parents[2]


def test_a_second_sigterm_to_run_ends_its_processes_and_exits(tmp_path):
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
        proc.send_signal(signal.SIGTERM)  # the first: stop gracefully (the engine call in flight sleeps 300 s)
        deadline = time.monotonic() + 30
        while "stopping: no new model calls" not in (tmp_path / "run.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-2000:]
            time.sleep(0.2)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # the second: at once
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


N = 24
STOPPABLE = f"""
dataset: stoppable
shard_size: 2
engine: {{max_in_flight: 4}}
sources:
  - kind: magpie
    magpie: {{n: {N}}}
dedup: null
"""


def seeds(version) -> list[int]:
    return version.read().column("seed").to_pylist() + version.read("rejects").column("seed").to_pylist()


def test_first_ctrl_c_publishes_what_passed_and_a_rerun_publishes_the_rest(tmp_path):
    _, env = slow_engine_env(tmp_path, delay_s=1.0)
    (tmp_path / "p.yaml").write_text(STOPPABLE)
    first = start(tmp_path, "run1.log", {**env, CHILD_ENV: "1"})
    deadline = time.monotonic() + 120
    while len(checkpoints(tmp_path, "magpie", "stoppable")) < 2:
        assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "run1.log").read_text()[-2000:]
        time.sleep(0.2)
    tree = descendants(first.pid)
    first.send_signal(signal.SIGINT)
    code = first.wait(timeout=120)
    log = (tmp_path / "run1.log").read_text()
    assert code == 130 and "stopped (Ctrl-C / SIGTERM)" in log, log[-2000:]
    time.sleep(0.5)
    assert tree and alive(tree) == [], "a graceful stop left the engine's processes behind"
    store = DatasetStore(tmp_path / "data" / "datasets")
    (cut,) = store.versions("stoppable")
    assert cut.manifest().stopped == "interrupted" and 0 < len(seeds(cut)) < N, seeds(cut)

    rest = start(tmp_path, "run2.log", env)
    assert rest.wait(timeout=300) == 0, (tmp_path / "run2.log").read_text()[-3000:]
    _, second = store.versions("stoppable")
    assert second.manifest().stopped is None and second.manifest().parent_versions == [cut.ref]
    assert sorted(seeds(cut) + seeds(second)) == list(range(N))  # every conversation once: none lost, none twice
