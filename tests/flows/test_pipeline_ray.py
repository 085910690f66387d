"""task_runner: ray — shard tasks run in Ray worker processes on a local Ray instance and hand each
other checkpoint keys through the shared dataset root. A scripted engine stands in for vLLM (the
pickled factory builds one per worker process, as vLLM replicas would be). The real embedded engine in
2 Ray workers, each pinned to a core of its own, is bench/ray_real_engine.py (it loads the model twice)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun
from flows.store import DatasetStore
from schemas.config import EngineConfig, parse_config
from tests.fakes import ScriptedEngine

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

pytest.importorskip("prefect_ray")
REPO = Path(__file__).resolve().parents[2]


def engine_in_worker(cfg: EngineConfig) -> ScriptedEngine:
    answer = "A plain answer that is long enough to keep."
    engine = ScriptedEngine(lambda p, sp: f"How does thing {sp.seed} work in practice?", lambda m, sp: answer)
    engine.model_id = f"scripted-pid-{os.getpid()}"
    return engine


def test_shards_run_on_ray_workers(tmp_path):
    from prefect_ray import RayTaskRunner

    from flows.pipeline import shards_flow

    data = {
        "dataset": "wide",
        "shard_size": 2,
        "task_runner": "ray",
        "dedup": None,
        "sources": [{"kind": "magpie", "magpie": {"n": 6}}],
    }
    cfg = parse_config(PipelineConfig, data, "test")
    run = PipelineRun(cfg, tmp_path, "", "ray-run", engine_factory=engine_in_worker)
    init = {"num_cpus": 2, "include_dashboard": False, "runtime_env": {"env_vars": {"PYTHONPATH": str(REPO)}}}
    summary = shards_flow.with_options(task_runner=RayTaskRunner(init_kwargs=init))(run)
    import ray

    ray.shutdown()
    assert summary["versions"] == ["wide@v1"]
    assert summary["stages"]["magpie"]["run"] == 3
    rows = DatasetStore(tmp_path).get("wide@v1").read()
    assert rows.num_rows == 6 and sorted(rows.column("seed").to_pylist()) == list(range(6))
    pids = {m.removeprefix("scripted-pid-") for m in rows.column("model_id").to_pylist()}
    assert str(os.getpid()) not in pids  # generated in Ray workers, not in the test process
