"""Trainer hand-off: fine-tune a model on one pinned dataset version and record which checkpoint it made.

`train` is a plain function (TRL's SFTTrainer, CPU by default); `train_flow` wraps it for Prefect.
The checkpoint is trained in a hidden temp dir and renamed into place when it is complete. Each
training then appends one record to the catalog, <root>/.catalog/trainings/<id>.json (temp file,
then rename), which the `trainings` view reads: `SELECT dataset, checkpoint FROM trainings`.
trl, transformers and torch are imported only inside the functions that use them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from prefect import flow, task
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict

from flows.catalog import trainings_dir
from flows.store import DatasetStore, Version
from flows.train_config import LoraSettings, TrainConfig
from schemas.errors import ConfigError, DatasetError, SynthloomError
from schemas.rows import utc_now

log = logging.getLogger(__name__)

INSTALL_HINT = 'install the `train` extra: pip install -e ".[train]"'


class TrainingRecord(BaseModel):
    """One hand-off: which dataset version trained which checkpoint, how, and with what result."""

    model_config = ConfigDict(extra="forbid")
    format: int = 1
    id: str
    dataset: str  # NAME@vN, pinned even when the ref named no version
    dataset_name: str
    dataset_version: int
    dataset_run_id: str  # the run that published the version (its manifest's run_id)
    run_id: str  # the training run
    model: str  # as configured: 'embedded' or a folder
    model_path: str  # the folder the weights were loaded from
    checkpoint: str
    steps: int
    final_loss: float | None  # the last step's training loss; None if none was logged or it was not finite
    mean_loss: float | None  # averaged over all steps
    train_rows: int
    seconds: float
    created_at: datetime
    trainer: str  # e.g. "trl 1.16.0"
    libraries: dict[str, str]
    config: dict[str, Any]


def train(root: Path | str, ref: str, cfg: TrainConfig, run_id: str = "") -> TrainingRecord:
    """Fine-tune `cfg.model` on dataset `ref` under `root`, save the checkpoint, and record the hand-off."""
    started = time.perf_counter()
    _require_trl(cfg)
    store = DatasetStore(root)
    source = store.get(ref)
    rows = _check_rows(source)
    record_id = uuid.uuid4().hex
    target = _checkpoint_dir(store.root, source, cfg, record_id)
    model_path = _model_path(cfg.model)
    dataset = _load_chat_rows(source, cfg.completion_only_loss)
    if cfg.max_rows is not None and len(dataset) > cfg.max_rows:  # seeded, so the same rows every time
        dataset = dataset.shuffle(seed=cfg.seed).select(range(cfg.max_rows))
    result = _fit(model_path, dataset, cfg, target)
    record = TrainingRecord(
        id=record_id,
        dataset=source.ref,
        dataset_name=source.name,
        dataset_version=source.number,
        dataset_run_id=source.manifest().run_id,
        run_id=run_id or record_id,
        model=cfg.model,
        model_path=str(model_path),
        checkpoint=str(target),
        train_rows=min(rows, cfg.max_rows or rows),
        seconds=round(time.perf_counter() - started, 3),
        created_at=utc_now(),
        trainer=f"trl {_version('trl')}",
        libraries={p: _version(p) for p in ("transformers", "torch", "accelerate", "datasets")},
        config=cfg.model_dump(mode="json"),
        **result,
    )
    write_record(store.root, record)
    return record


def _require_trl(cfg: TrainConfig | None = None) -> None:
    try:
        import trl  # noqa: F401
    except ImportError as err:
        raise SynthloomError(f"training needs TRL, which is not installed ({err}): {INSTALL_HINT}") from None
    if cfg is not None and cfg.lora is not None:
        try:
            import peft  # noqa: F401
        except ImportError as err:
            raise SynthloomError(f"LoRA needs peft, which is not installed ({err}): {INSTALL_HINT}") from None


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def _check_rows(source: Version) -> int:
    """Refuse anything but non-empty chat rows before loading a model; returns the row count."""
    files = source.files("rows")
    columns = pq.read_schema(files[0]).names if files else []
    if "messages" not in columns:
        hint = (
            f"it is a DPO table (prompt/chosen/rejected): export it with `synthloom export {source.ref} "
            "--format chat-jsonl` and train it with a preference trainer such as TRL's DPOTrainer"
            if {"prompt", "chosen", "rejected"} <= set(columns)
            else f"its columns are {sorted(columns)}"
        )
        raise DatasetError(
            f"cannot train on {source.ref}: train needs chat rows with a `messages` column "
            f"(SFT data, e.g. from `synthloom generate magpie`); {hint}"
        )
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in files)
    if rows == 0:
        raise DatasetError(f"cannot train on {source.ref}: it has no rows (train needs chat rows with `messages`)")
    return rows


def _checkpoint_dir(root: Path, source: Version, cfg: TrainConfig, record_id: str) -> Path:
    target = cfg.output_dir or root / ".checkpoints" / f"{source.name}-v{source.number}-{record_id[:8]}"
    target = Path(target).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(
            f"output_dir {target} exists and is not empty: choose a new path (checkpoints never overwrite)"
        )
    return target


def _model_path(model: str) -> Path:
    from generators.engines.models import resolve_model

    return Path(resolve_model(model, allow_hub_download=False))


def _load_chat_rows(source: Version, completion_only_loss: bool) -> Any:
    """The version's `messages` as TRL conversational data: prompt/completion, or whole conversations."""
    import datasets

    files = [str(p) for p in source.files("rows")]
    ds = datasets.load_dataset("parquet", data_files=files, split="train").select_columns(["messages"])
    if not completion_only_loss:
        return ds
    return ds.map(_split_last_turn, fn_kwargs={"ref": source.ref}, remove_columns=["messages"])


def _split_last_turn(row: dict[str, Any], ref: str) -> dict[str, Any]:
    msgs = row["messages"]
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
    if last < 1:
        raise DatasetError(
            f"cannot train on {ref}: a row has no assistant turn after a prompt; "
            "set completion_only_loss: false to train on whole conversations"
        )
    return {"prompt": msgs[:last], "completion": [msgs[last]]}


def _fit(model_path: Path, dataset: Any, cfg: TrainConfig, target: Path) -> dict[str, Any]:
    """Train in a hidden temp dir beside `target`, save model + tokenizer, rename into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        trainer = _trainer(model_path, dataset, cfg, tmp)
        output = trainer.train()
        _save(trainer, tmp)
        os.rename(tmp, target)  # onto nothing or an empty dir; fails if another run filled it meanwhile
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {
        "steps": trainer.state.global_step,
        "final_loss": _finite(losses[-1] if losses else None),
        "mean_loss": _finite(output.training_loss),
    }


def _trainer(model_path: Path, dataset: Any, cfg: TrainConfig, workdir: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(workdir),
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_length=cfg.max_length,
        completion_only_loss=cfg.completion_only_loss,
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=cfg.device == "cpu",
        bf16=False,
        fp16=False,
        save_strategy="no",
        report_to="none",
        logging_steps=1,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    peft_config = _peft_config(cfg.lora) if cfg.lora is not None else None
    return SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config
    )


def _peft_config(lora: LoraSettings) -> Any:
    from peft import LoraConfig

    targets = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets, task_type="CAUSAL_LM"
    )


def _save(trainer: Any, folder: Path) -> None:
    trainer.save_model(str(folder))  # weights, config, generation config, tokenizer + chat template
    (folder / "training_args.bin").unlink(missing_ok=True)  # a pickle; the record holds the config


def _finite(value: float | None) -> float | None:
    if value is not None and math.isfinite(value):
        return float(value)
    log.warning("no finite training loss (%s): were all completion tokens truncated away?", value)
    return None


def write_record(root: Path | str, record: TrainingRecord) -> Path:
    """Append `record` to the catalog: <root>/.catalog/trainings/<id>.json, written whole then renamed."""
    folder = trainings_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record.id}.json"
    tmp = folder / f".{record.id}.json.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record.model_dump(mode="json"), fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


@task(name="train")
def train_task(root: str, ref: str, config: TrainConfig, run_id: str) -> TrainingRecord:
    return train(root, ref, config, run_id)


@flow(name="synthloom-train", validate_parameters=False)
def train_flow(root: str, ref: str, config: TrainConfig) -> TrainingRecord:
    """Fine-tune on one pinned dataset version and record the checkpoint in the catalog."""
    return train_task(root, ref, config, str(flow_run.get_id() or uuid.uuid4()))
