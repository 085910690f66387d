"""Where the judge's model lives when it is not the generator's: both engines loaded at once (shards
keep overlapping generation and judging), or one after the other (generate every shard, free the
generator, then judge). `judge_placement` decides from numbers only (pure, tested); `memory_probe`
and `weights_bytes` read them from this machine.

- Same engine config: one engine serves both ("shared").
- Either engine served over HTTP: nothing of it is loaded here, so both "fit".
- GPU: each vLLM engine takes `vllm.gpu_memory_utilization` of the GPU, so the split is explicit
  config; both fit when the two shares add up to at most `GPU_BUDGET`.
- CPU: each engine needs its weights (at the dtype it runs in), its KV cache
  (`vllm.kv_cache_memory_bytes`) and a runtime allowance; both fit when the sum is at most
  `CPU_HEADROOM` of the RAM available now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from schemas.config import EngineConfig

GPU_BUDGET = 0.95
CPU_HEADROOM = 0.9
ENGINE_RUNTIME_BYTES = 1 << 30  # torch runtime + the engine-core process, per engine (an allowance)
DEFAULT_CPU_KV_BYTES = 4 << 30  # vLLM's CPU default KV cache space when none is configured
GIB = float(1 << 30)


@dataclass(frozen=True)
class Placement:
    mode: Literal["shared", "both", "sequential"]
    detail: str = ""

    def line(self) -> str:
        """The run summary's line: `judge engine: shared | both loaded (...) | sequential: ...`."""
        if self.mode == "shared":
            return "judge engine: shared with the generator"
        if self.mode == "both":
            return f"judge engine: both loaded ({self.detail})"
        return f"judge engine: sequential: generator freed before judging because {self.detail}"


def cpu_need_bytes(cfg: EngineConfig, weights: int) -> int:
    kv = cfg.vllm.kv_cache_memory_bytes
    return weights + (DEFAULT_CPU_KV_BYTES if kv is None else kv) + ENGINE_RUNTIME_BYTES


def judge_placement(
    gen: EngineConfig,
    judge: EngineConfig,
    on_gpu: bool,
    available_bytes: int | None,
    weights: Callable[[EngineConfig], int | None],
) -> Placement:
    """Pure: the placement for these two engine configs on a machine with `available_bytes` free RAM
    (CPU) or one GPU split by `gpu_memory_utilization`. `weights(cfg)` is the bytes that engine's
    weights take in memory, None when unknown (then they are assumed not to fit)."""
    if gen.identity() == judge.identity():
        return Placement("shared")
    remote = [c.model for c in (gen, judge) if c.backend != "vllm"]
    if remote:
        return Placement("both", f"fit: {', '.join(remote)} served over HTTP, nothing of it loaded here")
    if on_gpu:
        a, b = gen.vllm.gpu_memory_utilization, judge.vllm.gpu_memory_utilization
        if a + b <= GPU_BUDGET:
            split = f"gpu_memory_utilization {a:g} + {b:g} = {a + b:g} of the GPU"
            return Placement("both", f"fit: {split}, <= {GPU_BUDGET}")
        return Placement(
            "sequential",
            f"gpu_memory_utilization {a:g} + {b:g} = {a + b:g} > {GPU_BUDGET}; to keep both loaded, split it "
            "explicitly (engine.vllm.gpu_memory_utilization and judge.engine.vllm.gpu_memory_utilization)",
        )
    sizes = {c.model: weights(c) for c in (gen, judge)}
    unknown = [m for m, w in sizes.items() if w is None]
    if unknown:
        return Placement("sequential", f"the size of {', '.join(unknown)} is unknown here")
    if available_bytes is None:
        return Placement("sequential", "this machine's available memory is unknown")
    need = cpu_need_bytes(gen, sizes[gen.model] or 0) + cpu_need_bytes(judge, sizes[judge.model] or 0)
    budget = int(available_bytes * CPU_HEADROOM)
    fit = f"{need / GIB:.1f} GiB of {budget / GIB:.1f} GiB"
    if need <= budget:
        return Placement("both", f"fit: weights + KV cache + runtime {fit} available RAM")
    return Placement("sequential", f"both engines need {fit} available RAM")


# -- reading the numbers from this machine ------------------------------------------------------------
def available_memory_bytes(meminfo: str | None = None) -> int | None:
    """MemAvailable from /proc/meminfo (Linux), None elsewhere."""
    if meminfo is None:
        try:
            meminfo = Path("/proc/meminfo").read_text(encoding="utf-8")
        except OSError:
            return None
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def weights_bytes(cfg: EngineConfig) -> int | None:
    """Bytes of the model's weight files (x2 when a 16-bit checkpoint runs in float32 on a CPU
    without bf16, see vllm_engine.llm_kwargs); None when the model is not a local folder."""
    from generators.engines.models import resolve_model
    from generators.engines.vllm_engine import cpu_has_bf16

    try:
        folder = resolve_model(cfg.model, allow_hub_download=False)
    except Exception:
        return None
    if not isinstance(folder, Path):
        return None
    size = sum(p.stat().st_size for p in folder.glob("*") if p.suffix in (".safetensors", ".bin", ".pt"))
    upcast = cfg.vllm.dtype == "auto" and not cpu_has_bf16()
    return size * 2 if upcast else size


def placement_here(gen: EngineConfig, judge: EngineConfig) -> Placement:
    """judge_placement with this machine's numbers."""
    from generators.engines.vllm_engine import _cuda_available

    on_gpu = any(c.vllm.device == "cuda" or (c.vllm.device == "auto" and _cuda_available()) for c in (gen, judge))
    return judge_placement(gen, judge, on_gpu, available_memory_bytes(), weights_bytes)
