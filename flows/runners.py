"""Where shard tasks run. `local`: one worker thread in the flow's process, so one in-process vLLM
engine serves every shard in turn (vLLM batches within a shard; engines are not thread-safe).
`ray`: each shard task goes to a Ray worker (prefect-ray); every worker process loads its own
engine once, which makes the workers vLLM data-parallel replicas. Checkpoints are read and written
under the dataset root, so on a multi-node cluster that root must be shared storage."""

from __future__ import annotations

from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

from flows.pipeline_config import PipelineConfig
from schemas.errors import ConfigError


def task_runner_for(cfg: PipelineConfig) -> Any:
    if cfg.task_runner == "local":
        return ThreadPoolTaskRunner(max_workers=1)
    try:
        from prefect_ray import RayTaskRunner
    except ImportError:
        raise ConfigError(
            "task_runner: ray needs the `ray` extra: pip install -c constraints.txt -e '.[ray]'"
        ) from None
    return RayTaskRunner(address=cfg.ray_address, init_kwargs={"include_dashboard": False})
