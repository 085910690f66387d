"""A one-off `synthloom generate magpie` killed with SIGKILL mid-run (a real subprocess, the session's
real Prefect server, a slow scripted engine), then run again: it resumes from the finished shards'
checkpoints and publishes one version with every conversation once; a third run publishes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.store import DatasetStore
from tests.flows.test_pipeline_resume import checkpoints, kill_when, slow_engine_env

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

N, SHARD = 16, 2


def start(tmp_path: Path, log: str, env: dict[str, str]) -> subprocess.Popen:
    synthloom = Path(sys.executable).with_name("synthloom")
    (tmp_path / "few.yaml").write_text("engine: {max_in_flight: 2}\n")  # few shards at once: the kill finds some undone
    args = [str(synthloom), "generate", "magpie", "--n", str(N), "--shard-size", str(SHARD), "--dataset", "oneoff"]
    args += ["--config", str(tmp_path / "few.yaml"), "--data-dir", str(tmp_path / "data")]
    out = open(tmp_path / log, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def generated_seeds(state: Path) -> list[int]:
    return [int(line) for f in state.glob("seeds-*") for line in f.read_text().split()]


def test_kill_9_of_a_one_off_generate_then_resume_publishes_once(tmp_path):
    state, env = slow_engine_env(tmp_path, delay_s=0.5)
    kill_when(start(tmp_path, "run1.log", env), lambda: len(checkpoints(tmp_path, "magpie", "oneoff")) >= 2)
    before = checkpoints(tmp_path, "magpie", "oneoff")
    assert 2 <= len(before) < N // SHARD, before
    assert not (tmp_path / "data" / "datasets" / "oneoff").exists()  # nothing published by the killed run
    asked_before_kill = len(generated_seeds(state))

    rerun = start(tmp_path, "run2.log", env)
    assert rerun.wait(timeout=300) == 0, (tmp_path / "run2.log").read_text()[-3000:]
    third = start(tmp_path, "run3.log", env)
    assert third.wait(timeout=300) == 0, (tmp_path / "run3.log").read_text()[-3000:]
    assert "already published" in (tmp_path / "run3.log").read_text()

    (version,) = DatasetStore(tmp_path / "data" / "datasets").versions("oneoff")  # one version, three runs
    rows, rejects = version.read(), version.read("rejects")
    assert rows.num_rows >= 1 and all(r.startswith("How does thing") for r in rows.column("instruction").to_pylist())
    seeds = rows.column("seed").to_pylist() + rejects.column("seed").to_pylist()
    assert sorted(seeds) == list(range(N)), f"lost or duplicated conversations: seeds {sorted(seeds)}"
    # the shards finished before the kill were loaded, not regenerated
    after = checkpoints(tmp_path, "magpie", "oneoff")
    assert all(after[k] == t for k, t in before.items())
    asked_by_rerun = len(generated_seeds(state)) - asked_before_kill
    assert asked_by_rerun <= N - SHARD * len(before), (asked_by_rerun, len(before))
