"""Judge on another model: both engines loaded when they fit, else sequential (pure decision)."""

from __future__ import annotations

from generators.engines.placement import GIB, Placement, available_memory_bytes, judge_placement
from schemas.config import EngineConfig

GEN = EngineConfig(model="/models/gen")
JUDGE = EngineConfig(model="/models/judge")
SIZES = {"/models/gen": int(0.5 * GIB), "/models/judge": int(14 * GIB)}


def place(gen=GEN, judge=JUDGE, on_gpu=False, available=int(24 * GIB), sizes=SIZES) -> Placement:
    return judge_placement(gen, judge, on_gpu, available, lambda c: sizes.get(c.model))


def test_same_engine_config_is_shared():
    assert place(judge=GEN.model_copy(update={"max_in_flight": 8})).mode == "shared"  # feed settings don't count


def test_cpu_both_fit_when_weights_kv_and_runtime_fit_available_ram():
    p = place()  # 0.5 + 14 weights + 2 x (1 GiB KV + 1 GiB runtime) = 18.5 GiB <= 0.9 x 24
    assert p.mode == "both" and "18.5 GiB of 21.6 GiB" in p.line()


def test_cpu_sequential_when_they_do_not_fit_and_says_why():
    p = place(available=int(16 * GIB))
    assert p.mode == "sequential"
    assert p.line().startswith("judge engine: sequential: generator freed before judging because")
    assert "18.5 GiB of 14.4 GiB" in p.line()


def test_unknown_sizes_or_memory_play_safe():
    assert place(sizes={"/models/gen": 1}).mode == "sequential"
    assert "/models/judge" in place(sizes={"/models/gen": 1}).detail
    assert place(available=None).mode == "sequential"


def test_gpu_split_is_explicit_config():
    half = EngineConfig(model="/models/judge", vllm={"gpu_memory_utilization": 0.45})
    gen = EngineConfig(model="/models/gen", vllm={"gpu_memory_utilization": 0.45})
    assert place(gen, half, on_gpu=True).mode == "both"
    p = place(on_gpu=True)  # the defaults, 0.5 + 0.5
    assert p.mode == "sequential" and "judge.engine.vllm.gpu_memory_utilization" in p.detail


def test_an_http_engine_loads_nothing_here():
    served = EngineConfig(backend="openai", model="big-judge")
    assert place(judge=served, available=0).mode == "both"


def test_available_memory_from_meminfo():
    assert available_memory_bytes("MemTotal: 100 kB\nMemAvailable:   2048 kB\n") == 2048 * 1024
    assert available_memory_bytes("MemTotal: 100 kB\n") is None
