"""Where shard tasks run. `local`: one worker thread in the flow's process, so one in-process vLLM
engine serves every shard in turn (vLLM batches within a shard; engines are not thread-safe).
`ray`: each shard task goes to a Ray worker (prefect-ray); every worker process loads its own
engine once, which makes the workers vLLM data-parallel replicas. Checkpoints are read and written
under the dataset root, so on a multi-node cluster that root must be shared storage."""

from __future__ import annotations

import contextlib
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


def shard_task_options(cfg: PipelineConfig) -> contextlib.AbstractContextManager:
    """With Ray and `ray_gpus_per_task`, each shard task reserves that many GPUs, so Ray places one
    engine (a vLLM replica) per GPU. Elsewhere: nothing."""
    if cfg.task_runner != "ray" or not cfg.ray_gpus_per_task:
        return contextlib.nullcontext()
    from prefect_ray.context import remote_options

    return remote_options(num_gpus=cfg.ray_gpus_per_task)
