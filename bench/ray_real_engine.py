"""The real embedded vLLM engine in two Ray workers, each pinned to a core of its own (moved out of
the test suite: it loads the model twice, ~2 min of CI). Asserts what the test asserted (every
conversation once in rows or rejects; two workers, two distinct cores, none in this process) and
prints the wall time. Needs 2 cores.
Rerun: .venv/bin/python bench/ray_real_engine.py"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flows.run.config import PipelineConfig  # noqa: E402
from flows.run.core import PipelineRun, default_engine  # noqa: E402
from flows.store import DatasetStore  # noqa: E402
from generators.engines.models import embedded_model_dir  # noqa: E402
from schemas.config import EngineConfig, parse_config  # noqa: E402

CLAIMS_ENV = "SYNTHLOOM_BENCH_CORE_CLAIMS"
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


def main() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs 2 cores")
    import ray
    from prefect.testing.utilities import prefect_test_harness
    from prefect_ray import RayTaskRunner

    from flows.pipeline import shards_flow

    short = {"temperature": 0.0, "max_tokens": 32}
    source = {"kind": "magpie", "magpie": {"n": 4, "instruction": {"max_tokens": 32}, "response": short}}
    data = {"dataset": "rayreal", "shard_size": 2, "task_runner": "ray", "dedup": None, "sources": [source]}
    cfg = parse_config(PipelineConfig, data, "bench")
    with tempfile.TemporaryDirectory() as tmp_dir, prefect_test_harness():
        tmp = Path(tmp_dir)
        (tmp / "claims").mkdir()
        run = PipelineRun(cfg, tmp / "data", "", "ray-real", engine_factory=engine_on_own_core)
        env = {"PYTHONPATH": str(REPO), CLAIMS_ENV: str(tmp / "claims")}
        env["SYNTHLOOM_MODEL_CACHE"] = str(embedded_model_dir().parent)  # workers' cwd is not the repo
        init = {"num_cpus": 2, "include_dashboard": False, "runtime_env": {"env_vars": env}}
        started = time.monotonic()
        try:
            summary = shards_flow.with_options(task_runner=RayTaskRunner(init_kwargs=init))(run)
        finally:
            ray.shutdown()
        took = time.monotonic() - started
        assert summary["versions"] == ["rayreal@v1"] and summary["stages"]["magpie"]["run"] == 2, summary
        version = DatasetStore(tmp / "data").get("rayreal@v1")
        seeds = version.read().column("seed").to_pylist() + version.read("rejects").column("seed").to_pylist()
        assert sorted(seeds) == [0, 1, 2, 3], seeds  # every conversation exactly once, in rows or rejects
        claimed = {p.name: int(p.read_text()) for p in (tmp / "claims").iterdir()}
        assert len(claimed) == 2 and len(set(claimed.values())) == 2 and os.getpid() not in claimed.values()
    print(f"ok: 2 Ray workers on cores {sorted(claimed)}, 4 conversations once each, {took:.0f} s")


if __name__ == "__main__":
    main()
