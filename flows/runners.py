"""Where shard tasks run. `local`: worker threads in the flow's process, enough for
`engine.max_in_flight` requests; the one in-process vLLM engine is fed by a single dispatcher that
merges every waiting shard's requests into one batch (generators/engines/batching.py).
`ray`: each shard task goes to a Ray worker (prefect-ray); every worker process loads its own
engine once, which makes the workers vLLM data-parallel replicas. Checkpoints are read and written
under the dataset root, so on a multi-node cluster that root must be shared storage."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

from flows.run.config import PipelineConfig
from schemas.errors import ConfigError

MAX_LOCAL_WORKERS = 64


def shard_workers(cfg: PipelineConfig) -> int:
    """Shards run at once in the local runner: enough to keep `engine.max_in_flight` requests in the
    engine (each shard holds about `shard_size`), so a small shard still rides a large batch."""
    return max(1, min(MAX_LOCAL_WORKERS, math.ceil(cfg.engine.max_in_flight / cfg.shard_size)))


def task_runner_for(cfg: PipelineConfig) -> Any:
    if cfg.task_runner == "local":
        # x3: a shard's judge and heuristics tasks hold a thread while they wait for its previous step
        return ThreadPoolTaskRunner(max_workers=3 * shard_workers(cfg))
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
