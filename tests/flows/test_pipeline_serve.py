"""`synthloom serve --cron` against the session's real Prefect server on loopback: the deployment
carries the schedule, and each run of it publishes a new version naming the one before it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.store import DatasetStore

pytestmark = [pytest.mark.integration, pytest.mark.flow]

PIPELINE = """
dataset: nightly
shard_size: 2
sources:
  - kind: magpie
    magpie: {n: 2, instruction: {max_tokens: 48}, response: {temperature: 0.0, max_tokens: 64}}
heuristics: {min_instruction_words: 1}
"""


def wait_for_deployment(name: str, proc: subprocess.Popen, timeout: float = 180):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            assert proc.poll() is None, "synthloom serve exited"
            try:
                return client.read_deployment_by_name(name)
            except ObjectNotFound:
                assert time.monotonic() < deadline, f"deployment {name} never appeared"
                time.sleep(1)


def test_serve_schedules_runs_that_each_publish_a_new_version(tmp_path):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    (tmp_path / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    args = [str(Path(sys.executable).with_name("synthloom")), "serve", str(tmp_path / "p.yaml")]
    args += ["--cron", "0 3 * * *", "--data-dir", str(tmp_path / "data"), "--name", "nightly-test"]
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deployment = wait_for_deployment("synthloom-pipeline/nightly-test", proc)
        assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
        for _ in range(2):  # what the scheduler does at 03:00, now
            run = run_deployment("synthloom-pipeline/nightly-test", timeout=600)
            assert run.state.is_completed(), (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    v1, v2 = DatasetStore(tmp_path / "data" / "datasets").versions("nightly")
    assert v1.manifest().parent_versions == [] and v2.manifest().parent_versions == ["nightly@v1"]
    assert v1.manifest().config["tag"] != v2.manifest().config["tag"]  # each run samples new data
