"""`synthloom run` killed with SIGKILL at several points, then run again: it finishes, finished
shards are loaded (not regenerated), and the one published version has every conversation once.
Real subprocesses and the session's real Prefect server; the real embedded model behind the session's
vLLM server (integration: each run would otherwise load the model again), or a slow scripted engine
when the point is many shards in flight at the kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.store import DatasetStore

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

REPO = Path(__file__).resolve().parents[2]

N = 8
PIPELINE = f"""
dataset: resume
shard_size: 2
sources:
  - kind: magpie
    magpie:
      n: {N}
      instruction: {{temperature: 1.0, max_tokens: 64}}
      response: {{temperature: 0.0, max_tokens: 96}}
judge:
  sampling: {{temperature: 0.0, max_tokens: 96}}
heuristics: {{min_judge_score: null}}  # scores as columns: this test is about resuming, not the judge gate
"""


def cli_env() -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONUNBUFFERED": "1"}


def slow_engine_env(tmp_path: Path, delay_s: float) -> tuple[Path, dict[str, str]]:
    """A CLI environment whose engine is tests/flows/slow_engine.py, reporting under the returned folder."""
    state = tmp_path / "state"
    state.mkdir()
    env = {
        **cli_env(),
        "PYTHONPATH": str(REPO),
        "SYNTHLOOM_ENGINE_FACTORY": "tests.flows.slow_engine:engine",
        "SLOW_ENGINE_DIR": str(state),
        "SLOW_ENGINE_DELAY_S": str(delay_s),
    }
    return state, env


def start(tmp_path: Path, log: str, env: dict[str, str] | None = None, *extra: str) -> subprocess.Popen:
    synthloom = Path(sys.executable).with_name("synthloom")
    out = open(tmp_path / log, "w")  # noqa: SIM115 - closed with the process
    args = [str(synthloom), "run", str(tmp_path / "p.yaml"), "--data-dir", str(tmp_path / "data"), *extra]
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env or cli_env(), start_new_session=True)


def checkpoints(tmp_path: Path, stage: str, dataset: str = "resume") -> dict[str, int]:
    """Finished checkpoints of `stage` (not the temp dirs of a writer) -> their mtime."""
    base = tmp_path / "data" / "datasets" / ".cache" / dataset / stage
    found = [p for p in base.glob("*/stats.json") if not p.parent.name.startswith(".")] if base.is_dir() else []
    return {p.parent.name: p.stat().st_mtime_ns for p in found}


def kill_when(proc: subprocess.Popen, ready, timeout: float = 420) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline, "kill point not reached in time"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.integration
def test_kill_9_at_three_points_then_resume(tmp_path, vllm_server):
    from tests.flows.test_served_run import engine_block

    (tmp_path / "p.yaml").write_text(PIPELINE + engine_block(vllm_server))
    # 1. mid-generation: as soon as the first Magpie shard is checkpointed
    kill_when(start(tmp_path, "run1.log"), lambda: len(checkpoints(tmp_path, "magpie")) >= 1)
    first = checkpoints(tmp_path, "magpie")
    # 2. mid-judging: once a shard that was not judged before is judged
    judged = set(checkpoints(tmp_path, "judge"))
    kill_when(start(tmp_path, "run2.log"), lambda: set(checkpoints(tmp_path, "judge")) - judged)
    # 3. late: all shards but the last one finished
    kill_when(start(tmp_path, "run3.log"), lambda: len(checkpoints(tmp_path, "heuristics")) == N // 2 - 1)
    assert not (tmp_path / "data" / "datasets" / "resume").exists()  # nothing published yet

    final = start(tmp_path, "run4.log")
    assert final.wait(timeout=600) == 0, (tmp_path / "run4.log").read_text()[-3000:]
    log4 = (tmp_path / "run4.log").read_text()
    again = start(tmp_path, "run5.log")
    assert again.wait(timeout=300) == 0
    assert "already published" in (tmp_path / "run5.log").read_text()

    store = DatasetStore(tmp_path / "data" / "datasets")
    (version,) = store.versions("resume")  # one version, however many runs
    rows, rejects = version.read(), version.read("rejects")
    seeds = rows.column("seed").to_pylist() + rejects.column("seed").to_pylist()
    assert sorted(seeds) == list(range(N)), f"lost or duplicated conversations: seeds {sorted(seeds)}"
    assert len(set(rows.column("id").to_pylist())) == rows.num_rows
    m = version.manifest()
    assert m.stages[0].rows_in == N and all(s.rows_in == s.rows_out + s.rejected for s in m.stages)
    # finished shards were loaded, not regenerated: their checkpoints were never rewritten
    now = checkpoints(tmp_path, "magpie")
    assert all(now[k] == t for k, t in first.items())
    assert "from checkpoint" in log4
    (tmp_path / "result.json").write_text(json.dumps({"rows": rows.num_rows, "rejects": rejects.num_rows}))


SHARDS = 24  # more than the runner's 12 worker threads: the kill lands while the first wave is checkpointed
MANY = f"""
dataset: many
shard_size: 2
engine: {{max_in_flight: 8}}  # 4 shard workers x 3 threads (a shard's later tasks wait in theirs)
sources:
  - kind: magpie
    magpie: {{n: {2 * SHARDS}}}
judge: {{}}
heuristics: {{min_judge_score: null}}
dedup: null
"""


def test_kill_9_with_many_shards_in_flight_then_resume(tmp_path):
    state, env = slow_engine_env(tmp_path, delay_s=1.0)
    (tmp_path / "p.yaml").write_text(MANY)

    def in_flight() -> int:
        try:
            return int((state / "inflight").read_text())
        except (OSError, ValueError):
            return 0

    # kill -9 once a shard is checkpointed while >= 4 shards' engine calls are under way
    first = start(tmp_path, "run1.log", env)
    kill_when(first, lambda: len(checkpoints(tmp_path, "magpie", "many")) >= 1 and in_flight() >= 4)
    done = {stage: checkpoints(tmp_path, stage, "many") for stage in ("magpie", "judge")}
    assert 1 <= len(done["magpie"]) < SHARDS, done

    again = start(tmp_path, "run2.log", env, "--summary-json", str(tmp_path / "s.json"))
    assert again.wait(timeout=300) == 0, (tmp_path / "run2.log").read_text()[-3000:]
    store = DatasetStore(tmp_path / "data" / "datasets")
    (version,) = store.versions("many")
    seeds = version.read().column("seed").to_pylist() + version.read("rejects").column("seed").to_pylist()
    assert sorted(seeds) == list(range(2 * SHARDS)), f"lost or duplicated conversations: seeds {sorted(seeds)}"
    # shards finished before the kill were loaded, not regenerated: same checkpoints, fewer engine calls
    for stage, before in done.items():
        now = checkpoints(tmp_path, stage, "many")
        assert all(now[k] == t for k, t in before.items()), stage
    magpie = json.loads((tmp_path / "s.json").read_text())["stages"]["magpie"]
    assert magpie == {**magpie, "cached": len(done["magpie"]), "run": SHARDS - len(done["magpie"])}
    generated = (state / f"seeds-{again.pid}").read_text().split()
    assert len(generated) == len(set(generated)) == 2 * (SHARDS - len(done["magpie"]))


TARGET = """
dataset: target
shard_size: 2
target_rows: 8
sources:
  - kind: magpie
    magpie: {n: 8}
heuristics: null
"""


def test_target_rows_kill_9_inside_round_2_then_resume_gives_the_same_rows(tmp_path, monkeypatch):
    """A Prefect run with target_rows (scripted engine, ~30 % yield) killed during its second round,
    then rerun: the same 8 rows as an uninterrupted run, every attempt once in rows + rejects."""
    state, env = slow_engine_env(tmp_path, delay_s=0.3)
    env["SLOW_ENGINE_YIELD"] = "1"
    (tmp_path / "p.yaml").write_text(TARGET)
    first = start(tmp_path, "run1.log", env)
    kill_when(first, lambda: len(checkpoints(tmp_path, "magpie", "target")) > 4)  # round 1 has 4 shards
    assert not (tmp_path / "data" / "datasets" / "target" / "v1").exists()  # killed before any publish
    again = start(tmp_path, "run2.log", env)
    assert again.wait(timeout=300) == 0, (tmp_path / "run2.log").read_text()[-3000:]
    assert "target_rows=8: reached in" in (tmp_path / "run2.log").read_text()

    # the same config run uninterrupted, in this process (no Prefect), with the same engine
    from flows.run.config import load_pipeline_config
    from flows.run.core import PipelineRun
    from flows.run.order import run_in_process
    from tests.flows import slow_engine

    monkeypatch.setenv("SLOW_ENGINE_DIR", str(state))
    monkeypatch.setenv("SLOW_ENGINE_YIELD", "1")
    monkeypatch.setattr(slow_engine, "DELAY_S", 0.0)
    cfg = load_pipeline_config(tmp_path / "p.yaml")
    (fresh,) = run_in_process(PipelineRun(cfg, tmp_path / "clean", "", "r", engine_factory=slow_engine.engine))

    (resumed,) = DatasetStore(tmp_path / "data" / "datasets").versions("target")
    assert resumed.read().column("id").to_pylist() == fresh.read().column("id").to_pylist()
    m = resumed.manifest()
    assert m.rows == 8 and m.config["target"] == fresh.manifest().config["target"]
    seeds = resumed.read().column("seed").to_pylist() + resumed.read("rejects").column("seed").to_pylist()
    assert len(seeds) == m.config["target"]["attempts"] == m.stages[0].rows_in  # every attempt once
    assert len(set(resumed.read().column("seed").to_pylist())) == 8
