"""`synthloom eval REF`: fine-tune the base on the version's rows (the `train` stage, with LoRA), score
the base and the tuned model on the suite, write the results and the card section.

Phases: train (flows/train.py) -> base scores (cached per base model x suite x settings under
<root>/.cache/evals/) -> tuned scores (LoRA merged in memory) -> metrics with bootstrap intervals ->
<dataset>/evals/<id>.parquet -> the version's card. Plain functions, no Prefect.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flows.eval_config import EvalConfig
from flows.evals.checkers import passes
from flows.evals.judging import judge_note
from flows.evals.stats import bootstrap_delta, bootstrap_mean
from flows.evals.suite import Suite, load_suite
from flows.store import DatasetStore, Version
from flows.store.evals import EVAL_SCHEMA, ITEM_SCHEMA, SCORED, write_eval
from flows.train import TrainingRecord, train
from schemas.rows import utc_now

SCORING_VERSION = "2"  # bump when scoring changes: cached base scores are then measured again
PHASE = {"ref_nll": "ref_nll", "ref_margin": "ref_nll", "if_pass": "if_pass", "clean_rate": "if_pass"}  # measured in


@dataclass
class Scores:
    """Per-item results of one model on the suite, in suite order: `nll` and `margin` over the
    reference items, `passed` and `clean` over the instruction-following prompts."""

    nll: list[float]
    passed: list[float]
    outputs: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    note: str = ""
    margin: list[float] = field(default_factory=list)
    clean: list[float] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        by_metric = {"ref_nll": self.nll, "ref_margin": self.margin, "if_pass": self.passed, "clean_rate": self.clean}
        return by_metric[metric]


@dataclass(frozen=True)
class EvalOutcome:
    eval_id: str
    path: Path
    metrics: pa.Table
    training: TrainingRecord
    phases: dict[str, float]


def run_eval(root: Path | str, ref: str, cfg: EvalConfig, say: Callable[[str], None] = lambda _: None) -> EvalOutcome:
    """Train, score base and tuned, write <dataset>/evals/<id>.parquet and the card; see the module doc."""
    store = DatasetStore(root)
    version = store.get(ref)
    suite = load_suite(cfg.suite, cfg.suite_size, with_if=cfg.if_pass)
    eval_id, created = uuid.uuid4().hex, utc_now()
    total = _row_count(version)
    with cpu_threads(cfg, say):
        sample = f"a seeded sample of {cfg.max_rows} of its {total} rows" if total > cfg.max_rows else f"{total} rows"
        say(f"training {cfg.base} on {version.ref}: {sample} (LoRA r={cfg.lora.r})")
        record = train(store.root, version.ref, cfg.train_config(total), run_id=eval_id)
        say(f"scoring the base on suite {suite.name} ({len(suite.ref)} + {len(suite.instruct)} items)")
        base = base_scores(store.root, Path(record.model_path), cfg, suite)
        say("scoring the tuned model")
        tuned = score_model(Path(record.model_path), Path(record.checkpoint), cfg, suite)
    note = judge_note(store.root, cfg.judge_config)
    context = _context(eval_id, version, cfg, suite, record, created)
    metrics = metric_rows(context, base, tuned, record, note, cfg.bootstrap, total)
    path = write_eval(store.root, version.name, eval_id, metrics, item_rows(eval_id, suite, base, tuned))
    _refresh_card(version)
    phases = {"train": record.seconds, **_prefixed("base", base), **_prefixed("tuned", tuned)}
    return EvalOutcome(eval_id, path, metrics, record, phases)


@contextmanager
def cpu_threads(cfg: EvalConfig, say: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """torch's thread count for the eval on CPU, restored afterwards (it is process-wide)."""
    import torch

    from flows.evals.scoring import device_name

    threads = thread_count(cfg.cpu_threads)
    if threads is None or device_name(cfg.device) != "cpu":
        yield
        return
    if cfg.cpu_threads == "auto":
        say(f"torch threads: {threads} (auto: {_cores()} cores, load average {os.getloadavg()[0]:.1f})")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thread_count(setting: int | str | None, cores: int | None = None, load: float | None = None) -> int | None:
    """`auto`: the cores other jobs leave free now (cores - the whole part of the 1-minute load
    average: a load of 0.7 is a job that ended, not one running), at least 1.
    Two torch threads on 2 cores that another job also uses ran 6.6x slower than one (README)."""
    if setting != "auto":
        return setting  # type: ignore[return-value]
    cores = cores or _cores()
    load = os.getloadavg()[0] if load is None else load
    return max(1, min(cores, cores - int(load)))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _row_count(version: Version) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in version.files("rows"))


def score_model(model_path: Path, adapter: Path | None, cfg: EvalConfig, suite: Suite) -> Scores:
    from flows.evals.scoring import generate, load_model, mismatched, ref_nll

    model, tokenizer = load_model(model_path, adapter, cfg.device)
    started = time.perf_counter()
    pairs = [(i.instruction, i.reference) for i in suite.ref]
    nll = ref_nll(model, tokenizer, pairs)
    margin = [wrong - right for wrong, right in zip(ref_nll(model, tokenizer, mismatched(pairs)), nll, strict=True)]
    mid = time.perf_counter()
    prompts = [i.prompt for i in suite.instruct]
    outputs, ended = generate(model, tokenizer, prompts, cfg.max_new_tokens, cfg.gen_batch_size)
    passed = [float(passes(i.constraints, out)) for i, out in zip(suite.instruct, outputs, strict=True)]
    seconds = {"ref_nll": round(mid - started, 3), "if_pass": round(time.perf_counter() - mid, 3)}
    return Scores(nll, passed, outputs, seconds, margin=margin, clean=clean_answers(prompts, outputs, ended))


def clean_answers(prompts: list[str], outputs: list[str], ended: list[bool]) -> list[float]:
    """1.0 per answer that ended before the token cap and passes the pipeline's own heuristics (loops,
    refusals, cut-offs, template leaks...; no judge, any language): what the gates select rows for."""
    from filters.heuristics import HeuristicsConfig, heuristic_verdicts

    table = pa.table(
        {
            "instruction": prompts,
            "response": outputs,
            "finish_reason": ["stop" if e else "length" for e in ended],
        }
    )
    cfg = HeuristicsConfig(min_judge_score=None, allowed_languages=None)
    return [float(v is None) for v in heuristic_verdicts(table, cfg)]


def base_scores(root: Path, model_path: Path, cfg: EvalConfig, suite: Suite) -> Scores:
    """The base model's scores, measured once per base x suite x scoring settings and cached as JSON."""
    from flows.evals.scoring import device_name

    key = [SCORING_VERSION, str(model_path.resolve()), suite.hash, cfg.max_new_tokens, device_name(cfg.device)]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:24]
    path = root / ".cache" / "evals" / f"base-{digest}.json"
    if path.is_file():
        cached = Scores(**json.loads(path.read_text(encoding="utf-8")))
        cached.note = f"base scores from cache ({path.name})"
        return cached
    scores = score_model(model_path, None, cfg, suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(asdict(scores)), encoding="utf-8")
    tmp.replace(path)
    return scores


def _context(
    eval_id: str, version: Version, cfg: EvalConfig, suite: Suite, record: TrainingRecord, created: Any
) -> dict[str, Any]:
    return {
        "eval_id": eval_id,
        "dataset": version.ref,
        "dataset_name": version.name,
        "version": version.number,
        "base": cfg.base,
        "suite": suite.name,
        "suite_hash": suite.hash,
        "train_config": json.dumps(record.config, sort_keys=True),
        "training_id": record.id,
        "train_rows": record.train_rows,
        "created_at": created,
    }


def metric_rows(
    context: dict[str, Any],
    base: Scores,
    tuned: Scores,
    record: TrainingRecord,
    judge: str,
    resamples: int,
    version_rows: int | None = None,
) -> pa.Table:
    """base / tuned / delta rows for ref_nll and if_pass, the judge row, and the training row."""
    rows = []
    for metric in SCORED:
        before, after = base.values(metric), tuned.values(metric)
        if not before:
            rows.append({"model": "tuned", "metric": metric, "note": f"not measured: {metric} is off (no items)"})
            continue
        estimates = {
            "base": bootstrap_mean(before, resamples),
            "tuned": bootstrap_mean(after, resamples),
            "delta": bootstrap_delta(after, before, resamples=resamples),
        }
        phase = PHASE[metric]
        seconds = {"base": base.seconds.get(phase), "tuned": tuned.seconds.get(phase), "delta": None}
        for model, est in estimates.items():
            note = base.note if model == "base" else ""
            rows.append({"model": model, "metric": metric, **_estimate(est), "seconds": seconds[model], "note": note})
    rows.append({"model": "tuned", "metric": "judge_winrate", "note": judge})
    train_row = {"model": "train", "metric": "train_loss", "value": record.final_loss, "n": record.steps}
    rows.append({**train_row, "seconds": record.seconds, "note": train_note(record, version_rows)})
    return pa.Table.from_pylist([{**context, **r} for r in rows], schema=EVAL_SCHEMA)


def train_note(record: TrainingRecord, version_rows: int | None) -> str:
    """How much trained; says so when the rows were a sample (EvalConfig.max_rows) of a bigger version."""
    if version_rows is not None and record.train_rows < version_rows:
        return (
            f"{record.steps} steps on a seeded sample of {record.train_rows} of the version's "
            f"{version_rows} rows (max_rows)"
        )
    return f"{record.steps} steps on {record.train_rows} rows"


def _estimate(est: Any) -> dict[str, Any]:
    return {"value": est.value, "ci_low": est.ci_low, "ci_high": est.ci_high, "n": est.n}


def item_rows(eval_id: str, suite: Suite, base: Scores, tuned: Scores) -> pa.Table:
    """One row per model x metric x item; the if_pass phase's rows keep the generated answer."""
    items = {"ref_nll": suite.ref, "if_pass": suite.instruct}
    rows = []
    for model, scores in (("base", base), ("tuned", tuned)):
        for metric in SCORED:
            values, phase = scores.values(metric), PHASE[metric]
            if not values:  # off (if_pass: false) or not measured: metric_rows says so
                continue
            for k, (item, value) in enumerate(zip(items[phase], values, strict=True)):
                out = scores.outputs[k] if phase == "if_pass" else None
                rows.append({"model": model, "metric": metric, "item_id": item.id, "value": value, "output": out})
    return pa.Table.from_pylist([{"eval_id": eval_id, **r} for r in rows], schema=ITEM_SCHEMA)


def _prefixed(prefix: str, scores: Scores) -> dict[str, float]:
    return {f"{prefix} {k}": v for k, v in scores.seconds.items()}


def _refresh_card(version: Version) -> None:
    from flows.report import write_card

    write_card(version)
