"""One writer per dataset (issue 12): a dataset lock held by a run from planning to publish and by
every publish; a second writer gets one line naming the holder, or waits; a dead holder's lock is
taken over. Two real `synthloom run` processes (scripted engine) publish exactly one version."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flows.store import DatasetStore
from flows.store.locks import dataset_lock, lock_path
from schemas.errors import DatasetLockedError

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

PIPELINE = """
dataset: twice
shard_size: 2
engine: {backend: openai, model: scripted}
sources:
  - kind: magpie
    magpie: {n: 4}
"""


def _hold(root: str, ready, stop) -> None:
    with dataset_lock(root, "demo", "test holder"):
        ready.set()
        stop.wait(60)


def holder_process(root: Path):
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(root), ready, stop))
    proc.start()
    assert ready.wait(60)
    return proc, stop


def test_a_second_writer_gets_one_line_naming_the_holder(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNTHLOOM_LOCK_WAIT", raising=False)
    proc, stop = holder_process(tmp_path)
    try:
        with pytest.raises(DatasetLockedError) as err, dataset_lock(tmp_path, "demo", "second"):
            pass
        msg = str(err.value)
        assert f"pid {proc.pid} on host {socket.gethostname()}, since 20" in msg and "test holder" in msg
        assert "\n" not in msg and "SYNTHLOOM_LOCK_WAIT" in msg
        with dataset_lock(tmp_path, "other", "another dataset"):  # one lock per dataset
            pass
    finally:
        stop.set()
        proc.join(30)
    with dataset_lock(tmp_path, "demo", "after the holder left"):
        pass


def test_a_killed_holders_lock_is_taken_over(tmp_path):
    proc, _stop = holder_process(tmp_path)
    proc.kill()
    proc.join()
    with dataset_lock(tmp_path, "demo", "next run", wait=0):
        assert "next run" in lock_path(tmp_path, "demo").with_suffix(".holder.json").read_text()


def test_a_writer_can_wait_for_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHLOOM_LOCK_WAIT", "30")
    proc, stop = holder_process(tmp_path)
    threading.Timer(1.0, stop.set).start()
    try:
        with dataset_lock(tmp_path, "demo", "patient"):
            assert not proc.is_alive() or stop.is_set()
    finally:
        stop.set()
        proc.join(30)


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    errors = []

    def publish_from_a_task_thread() -> None:
        try:
            with dataset_lock(tmp_path, "demo", "publish task", wait=0):
                pass
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    with dataset_lock(tmp_path, "demo", "run", wait=0):
        t = threading.Thread(target=publish_from_a_task_thread)
        t.start()
        t.join()
    assert errors == []


def cli_env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONUNBUFFERED": "1", **extra}
    env.pop("SYNTHLOOM_LOCK_WAIT", None)
    env.update(extra)
    return env


def start_run(tmp_path: Path, log: str, **env: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "tests.flows.scripted_cli", "run", str(tmp_path / "p.yaml")]
    args += ["--data-dir", str(tmp_path / "data")]
    out = open(tmp_path / log, "w")  # noqa: SIM115 - closed with the process
    repo = Path(__file__).resolve().parents[2]
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=cli_env(**env), cwd=repo)


@pytest.mark.parametrize("wait", ["0", "-1"])
def test_two_runs_of_the_same_pipeline_started_together_publish_one_version(tmp_path, wait):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    procs = [start_run(tmp_path, f"run{i}.log", SYNTHLOOM_LOCK_WAIT=wait) for i in range(2)]
    codes = [p.wait(timeout=300) for p in procs]
    logs = [(tmp_path / f"run{i}.log").read_text() for i in range(2)]
    assert [v.number for v in DatasetStore(tmp_path / "data" / "datasets").versions("twice")] == [1], logs
    assert 0 in codes, logs
    other = logs[codes.index(0) - 1] if codes.count(0) == 1 else logs[1]
    if wait == "0" and codes.count(0) == 1:  # the usual case: the second run found the lock taken
        assert codes.count(2) == 1 and "is being written by synthloom run" in other and "pid " in other, logs
        assert "Traceback" not in other
    else:  # it waited (or came after the first had finished): it finds the run published
        assert codes == [0, 0] and any("already published" in log for log in logs), logs
