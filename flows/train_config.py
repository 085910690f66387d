"""What `synthloom train` (and the eval's training) reads: plain configs, importable without Prefect
or any model library (flows/train.py runs them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from schemas.config import Frozen


class LoraSettings(Frozen):
    """LoRA through peft: the checkpoint is then the adapter (adapter_model.safetensors) + tokenizer."""

    r: int = Field(16, ge=1, description="rank")
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | tuple[str, ...] = Field("all-linear", description="peft's target_modules")


class TrainConfig(Frozen):
    """What `synthloom train` reads. Defaults make a short smoke run of the embedded model on CPU."""

    model: str = Field("embedded", description="'embedded' or a local HF model folder (no hub downloads)")
    max_steps: int = Field(3, ge=1, description="optimizer steps")
    learning_rate: float = Field(1e-5, gt=0)
    per_device_batch_size: int = Field(2, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(512, ge=16, description="tokens per example; longer examples are truncated")
    completion_only_loss: bool = Field(
        True, description="loss on the last assistant turn only (the prompt is masked); False: on every token"
    )
    seed: int = 0
    device: Literal["cpu", "auto"] = Field("cpu", description="auto: the accelerator when one is visible")
    output_dir: Path | None = Field(None, description="default: <root>/.checkpoints/<dataset>-v<N>-<id8>")
    max_rows: int | None = Field(None, ge=1, description="train on a seeded sample of this many rows; None: all")
    lora: LoraSettings | None = Field(None, description="LoRA adapters (peft) instead of full fine-tuning")
