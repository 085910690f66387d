"""What `synthloom eval` reads (--config) and a pipeline's `eval:` section: a plain config, importable
without Prefect or any model library (flows/evals/runner.py runs it), so the run core validates a
pipeline's `eval:` before any model loads. Beside flows/train_config.py for the same reason."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from flows.train_config import LoraSettings, TrainConfig
from schemas.config import Frozen

DEFAULT_SUITE = "core"  # flows/evals/suite/core_*.jsonl


class EvalConfig(Frozen):
    """What `synthloom eval` reads (--config); the CLI flags override steps, epochs, base and suite."""

    base: str = Field("embedded", description="'embedded' or a local HF model folder")
    suite: str = DEFAULT_SUITE
    suite_size: int | None = Field(None, ge=1, description="only the first N items of each part (tests, smoke runs)")
    steps: int | None = Field(None, ge=1, description="optimizer steps; None: from epochs")
    epochs: float = Field(1.0, gt=0, description="passes over the (sampled) rows when steps is None")
    max_rows: int = Field(
        96,
        ge=1,
        description="train on a seeded sample of at most this many rows: 96 keeps a first eval of a 500-row "
        "version near 15 min on 2 CPU cores (BENCHMARKS.md); raise it on a GPU",
    )
    learning_rate: float = Field(2e-4, gt=0)
    batch_size: int = Field(4, ge=1)
    max_length: int = Field(512, ge=16)
    lora: LoraSettings = LoraSettings()
    seed: int = 0
    device: Literal["cpu", "auto"] = Field("auto", description="auto: the GPU when one is visible")
    cpu_threads: Annotated[int, Field(ge=1)] | Literal["auto"] | None = Field(
        "auto", description="torch threads on CPU: auto = the cores other jobs leave free now; None: torch's default"
    )
    if_pass: bool = Field(True, description="False: ref_nll only, no generation (cheap sweeps)")
    max_new_tokens: int = Field(128, ge=1, description="greedy tokens per if_pass answer")
    gen_batch_size: int = Field(32, ge=1, description="if_pass answers per generate call (32: 1.33x 16 on CPU)")
    bootstrap: int = Field(2000, ge=100, description="bootstrap resamples per interval")
    judge_config: Path | None = Field(None, description="pipeline/score config naming a calibrated judge")

    def train_config(self, rows: int) -> TrainConfig:
        used = min(rows, self.max_rows)
        steps = self.steps or max(1, math.ceil(used * self.epochs / self.batch_size))
        return TrainConfig(
            model=self.base,
            max_steps=steps,
            learning_rate=self.learning_rate,
            per_device_batch_size=self.batch_size,
            max_length=self.max_length,
            seed=self.seed,
            device=self.device,
            max_rows=self.max_rows,
            lora=self.lora,
        )
