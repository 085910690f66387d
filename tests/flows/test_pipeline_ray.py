"""task_runner: ray — shard tasks run in Ray worker processes on a local Ray instance and hand each
other checkpoint keys through the shared dataset root. A scripted engine stands in for vLLM (the
pickled factory builds one per worker process, as vLLM replicas would be); the integration test runs
the real embedded vLLM engine in 2 Ray workers, each pinned to a core of its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun, default_engine
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


CLAIMS_ENV = "SYNTHLOOM_TEST_CORE_CLAIMS"
_core: int | None = None


def engine_on_own_core(cfg: EngineConfig):
    """In a Ray worker: claim a core no other worker holds, pin this process (and so the engine-core
    process vLLM starts) to it, then the real engine: `cpu_threads_bind: auto` binds vLLM's threads
    to the cores the process may use. The same code puts one replica per GPU with `ray_gpus_per_task`."""
    global _core
    if _core is None:
        claims = Path(os.environ[CLAIMS_ENV])
        for core in sorted(os.sched_getaffinity(0)):
            try:
                fd = os.open(claims / f"core-{core}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            _core = core
            break
        else:
            raise RuntimeError("every core is claimed by another worker")
        os.sched_setaffinity(0, {_core})
    return default_engine(cfg)


@pytest.mark.integration
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_real_engine_in_two_ray_workers_each_on_its_own_core(tmp_path, embedded_dir):
    from prefect_ray import RayTaskRunner

    from flows.pipeline import shards_flow

    short = {"temperature": 0.0, "max_tokens": 32}
    data = {
        "dataset": "rayreal",
        "shard_size": 2,
        "task_runner": "ray",
        "dedup": None,
        "sources": [{"kind": "magpie", "magpie": {"n": 4, "instruction": {"max_tokens": 32}, "response": short}}],
    }
    cfg = parse_config(PipelineConfig, data, "test")
    (tmp_path / "claims").mkdir()
    run = PipelineRun(cfg, tmp_path / "data", "", "ray-real", engine_factory=engine_on_own_core)
    env = {"PYTHONPATH": str(REPO), CLAIMS_ENV: str(tmp_path / "claims")}
    env["SYNTHLOOM_MODEL_CACHE"] = str(embedded_dir.parent)  # workers' cwd is not the repo
    init = {"num_cpus": 2, "include_dashboard": False, "runtime_env": {"env_vars": env}}
    try:
        summary = shards_flow.with_options(task_runner=RayTaskRunner(init_kwargs=init))(run)
    finally:
        import ray

        ray.shutdown()
    assert summary["versions"] == ["rayreal@v1"] and summary["stages"]["magpie"]["run"] == 2
    version = DatasetStore(tmp_path / "data").get("rayreal@v1")
    seeds = version.read().column("seed").to_pylist() + version.read("rejects").column("seed").to_pylist()
    assert sorted(seeds) == [0, 1, 2, 3]  # every conversation exactly once, in rows or rejects
    claimed = {p.name: int(p.read_text()) for p in (tmp_path / "claims").iterdir()}
    assert len(claimed) == 2 and len(set(claimed.values())) == 2 and os.getpid() not in claimed.values()
