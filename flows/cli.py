"""The `synthloom` command line."""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from flows.console import DEBUG_ENV, VERBOSE_ENV
from flows.console import debug as _debug
from schemas.errors import SynthloomError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(help="synthloom: synthetic training data for LLMs.", no_args_is_help=True, add_completion=False)
generate_app = typer.Typer(help="Generate a dataset and publish it as a new version.", no_args_is_help=True)
datasets_app = typer.Typer(help="List and inspect published datasets.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
personas_app = typer.Typer(help="Build persona datasets (seeds, from text, expansion).", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
judge_app = typer.Typer(help="Check the LLM judge before trusting its scores.", no_args_is_help=True)
app.add_typer(judge_app, name="judge")
app.add_typer(personas_app, name="personas")

DataDir = typer.Option(
    Path(os.environ.get("SYNTHLOOM_DATA_DIR", "data")),
    "--data-dir",
    envvar="SYNTHLOOM_DATA_DIR",
    help="Root for datasets/ and models/.",
)


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help=f"Show tracebacks, not one-line errors [env {DEBUG_ENV}=1]."),
    verbose: bool = typer.Option(
        False, "--verbose", help=f"Show the engine's and Prefect's own log, not only progress [env {VERBOSE_ENV}=1]."
    ),
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"
    if verbose:
        os.environ[VERBOSE_ENV] = "1"


def friendly_errors(fn: F) -> F:
    """User errors (and a full disk) become one clear line on stderr and exit code 2, not a traceback;
    `--debug` or SYNTHLOOM_DEBUG=1 lets the traceback through."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SynthloomError as err:
            if _debug():
                raise
            typer.secho(f"error: {err}", fg="red", err=True)
            raise typer.Exit(2) from None
        except OSError as err:
            if _debug() or err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f" writing {err.filename}" if err.filename else ""
            typer.secho(f"error: disk full{where}: free some space and run the command again", fg="red", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _store(data_dir: Path):
    from flows.store import DatasetStore

    return DatasetStore(data_dir / "datasets")


@generate_app.command("magpie")
@friendly_errors
def generate_magpie(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset name (lowercase, digits, '_')."),
    n: int = typer.Option(None, "--n", min=1, help="Conversations to attempt [config: magpie.n, default 32]."),
    turns: int = typer.Option(None, "--turns", min=1, max=8, help="User/assistant turns per conversation."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML/JSON file with `engine:` and `magpie:` keys."),
    shard_size: int = typer.Option(32, "--shard-size", min=1, help="Conversations per checkpointed shard."),
    data_dir: Path = DataDir,
) -> None:
    """Magpie self-prompting: instructions from the model's own pre-query template, then answers.

    Publishes DATASET as a new immutable version. Shards are checkpointed: after a crash or kill, run
    the same command again and it resumes; the same command and config never publish twice.

    Example:  synthloom generate magpie --n 200 --dataset magpie_demo --config gpu.yaml
    """
    from flows.run import one_off
    from flows.store import check_name
    from schemas.config import GenerateConfig, load_config

    check_name(dataset)
    overrides = {k: v for k, v in {"magpie.n": n, "magpie.turns": turns}.items() if v is not None}
    cfg: GenerateConfig = load_config(GenerateConfig, config, overrides)
    pipeline = one_off.magpie(dataset, cfg).model_copy(update={"shard_size": shard_size})
    _run_one_off(pipeline, data_dir, "synthloom generate magpie")


def _prefect_env() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    # The ephemeral Prefect server (used when no PREFECT_API_URL is set) can take >20 s to start
    # on a 2-core machine, which is Prefect's default limit.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        run_logger = logging.getLogger(name)
        if not any(isinstance(f, _NoUserErrorTracebacks) for f in run_logger.filters):
            run_logger.addFilter(_NoUserErrorTracebacks())


class _NoUserErrorTracebacks(logging.Filter):
    """Prefect logs a failed task/flow with its traceback; for a user error (or a full disk) the log
    line stays and the traceback goes (the CLI prints the one-line error), unless --debug."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        full_disk = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
        if (isinstance(exc, SynthloomError) or full_disk) and not _debug():
            record.exc_info, record.exc_text = None, None
        return True


def _run_one_off(cfg: Any, data_dir: Path, label: str) -> None:
    """A one-off command's pipeline (flows/run/one_off.py) through the same run path as `synthloom run`:
    checkpointed shards, resume after a kill, one publish per run key."""
    _check_models(cfg)
    root = data_dir.resolve() / "datasets"
    summary = _run_locked(cfg, root, "", label)
    _print_run(summary, data_dir)


def _check_models(cfg: Any) -> None:
    """Every vLLM model the pipeline names resolves locally: fail before any work."""
    from generators.engines.models import resolve_model

    own = [j.engine for j in (cfg.judge, cfg.pairwise) if j is not None and j.engine is not None]
    for e in [cfg.engine, *own]:
        if e.backend == "vllm":
            resolve_model(e.model, e.vllm.allow_hub_download)


def _print_summary(data_dir: Path, version: Any) -> None:
    from flows.catalog import query

    m = version.manifest()
    typer.echo(
        f"\npublished {version.ref} -> {version.path}"
        + (f" (from {', '.join(m.parent_versions)})" if m.parent_versions else "")
    )
    for s in m.stages:
        tps = s.completion_tokens / s.seconds if s.seconds else 0.0
        tokens = (
            f", {s.prompt_tokens}+{s.completion_tokens} tokens ({tps:.0f} completion tok/s)"
            if s.completion_tokens
            else ""
        )
        typer.echo(
            f"  stage {s.name}: {s.rows_in} in, {s.rows_out} kept, {s.rejected} rejected, {s.seconds:.1f}s{tokens}"
        )
    root, name = data_dir / "datasets", version.name
    try:
        reasons = query(
            root, f'SELECT stage, reason, count(*) FROM "{name}_rejects" GROUP BY ALL ORDER BY 3 DESC'
        ).fetchall()
    except Exception as err:  # the version is published; only this summary is missing
        if _debug():
            raise
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        msg = f"warning: {version.ref} is published, but its rejects summary failed: {first}"
        typer.secho(msg, fg="yellow", err=True)
        reasons = []
    if reasons:
        typer.echo("  rejects by reason (DuckDB):")
        for stage, reason, count in reasons:
            typer.echo(f"    {stage}/{reason}: {count}")
    typer.echo(f'  rows: {m.rows}; try: synthloom query "SELECT * FROM {name} LIMIT 5"')
    from flows.report import card_path

    if card := card_path(version):
        typer.echo(f"  dataset card: {card}")


def _transform(
    op: str,
    ref: str,
    out: str,
    config: Path | None,
    data_dir: Path,
    overrides: dict | None = None,
    against: list[str] | None = None,
) -> None:
    from flows.run import one_off
    from flows.store import DatasetStore, check_name

    check_name(out)
    cfg = one_off.load_transform_config(config, overrides)
    source = DatasetStore(data_dir / "datasets").get(ref)  # fail on a bad ref before any work
    has_candidates = op == "pairwise" and "candidates" in source.read().column_names
    store = DatasetStore(data_dir / "datasets")
    others = tuple(store.get(r).ref for r in against or [])  # exact refs, checked before any work
    pipeline = one_off.transform(op, source.ref, out, cfg, has_candidates, others)
    _run_one_off(pipeline, data_dir, f"synthloom {op.replace('_', ' ')} {source.ref}")


def _source(
    kind: str, name: str, inputs: list[str], config: Path | None, data_dir: Path, parent: str | None = None
) -> None:
    from flows.run import one_off
    from flows.store import DatasetStore, check_name

    check_name(name)
    cfg = one_off.load_sources_config(config)
    if parent is not None:
        parent = DatasetStore(data_dir / "datasets").get(parent).ref  # fail on a bad ref before any work
    if inputs:
        from readers.documents import read_documents

        read_documents(inputs, cfg.text_to_instructions.read)  # no usable input: one line, before Prefect starts
    pipelines = {  # the one-off pipeline of each `generate` source kind (flows/run/one_off.py)
        "from_text": lambda: one_off.from_text(name, inputs, cfg),
        "personas": lambda: one_off.personas(name, inputs, parent, cfg),
        "persona_tasks": lambda: one_off.persona_tasks(name, parent, cfg),
    }
    pipeline = pipelines[kind]()
    _run_one_off(pipeline, data_dir, f"synthloom generate {kind}")


SourceConfigOpt = typer.Option(
    None, "--config", "-c", help="YAML/JSON with engine:, text_to_instructions:, personas:, persona_tasks: sections."
)


@generate_app.command("from-text")
@friendly_errors
def generate_from_text(
    paths: list[str] = typer.Argument(..., help="Files, globs or folders of .txt/.md/.jsonl/.parquet"),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset name; the augmented corpus goes to NAME_corpus."),
    config: Path = SourceConfigOpt,
    data_dir: Path = DataDir,
) -> None:
    """Grounded instruction/response pairs from your documents, plus an augmented corpus.

    Documents are chunked by the model's tokenizer; the corpus (NAME_corpus) is each chunk followed
    by its pairs. Unreadable inputs are skipped and recorded in the rejects table.

    Example:  synthloom generate from-text data/seeds/corpus --dataset docs_qa
    """
    _source("from_text", dataset, paths, config, data_dir)


@generate_app.command("personas")
@friendly_errors
def generate_personas(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Output SFT dataset name."),
    personas: str = typer.Option(None, "--personas", "-p", help="Personas dataset NAME[@vN]; default: the seeds."),
    config: Path = SourceConfigOpt,
    data_dir: Path = DataDir,
) -> None:
    """Persona x task templates: each persona writes a request, the model answers it.

    Built-in templates: a user prompt, a hard math problem, an article; add your own .jinja files
    via persona_tasks.templates in the config.

    Example:  synthloom generate personas --personas personas_v --dataset persona_sft
    """
    _source("persona_tasks", dataset, [], config, data_dir, parent=personas)


@personas_app.command("from-text")
@friendly_errors
def personas_from_text(
    paths: list[str] = typer.Argument(..., help="Files, globs or folders of documents"),
    out: str = typer.Option(..., "--out", "-o", help="Personas dataset name."),
    config: Path = SourceConfigOpt,
    data_dir: Path = DataDir,
) -> None:
    """Seed personas plus who would read or write each text chunk, expanded and deduplicated.

    Example:  synthloom personas from-text data/seeds/corpus --out personas
    """
    _source("personas", out, paths, config, data_dir)


@personas_app.command("expand")
@friendly_errors
def personas_expand(
    ref: str = typer.Argument(..., help="Personas dataset NAME or NAME@vN"),
    out: str = typer.Option(..., "--out", "-o", help="Personas dataset name."),
    config: Path = SourceConfigOpt,
    data_dir: Path = DataDir,
) -> None:
    """People related to each persona (colleague, client, mentor...), deduplicated with the input.

    Example:  synthloom personas expand personas@v1 --out personas_wide
    """
    _source("personas", out, [], config, data_dir, parent=ref)


RefArg = typer.Argument(..., help="Input dataset: NAME (latest) or NAME@vN")
OutOpt = typer.Option(..., "--out", "-o", help="Output dataset name; gets a new version.")
ConfigOpt = typer.Option(None, "--config", "-c", help="YAML/JSON with judge:, candidates:, ... sections.")


PipelineArg = typer.Argument(..., help="Pipeline YAML: dataset, engine, sources, judge, heuristics, dedup, ...")


def _load_pipeline(pipeline: Path) -> Any:
    from flows.run.config import load_pipeline_config

    cfg = load_pipeline_config(pipeline)
    _check_models(cfg)
    return cfg


@app.command("run")
@friendly_errors
def run_cmd(
    pipeline: Path = PipelineArg,
    tag: str = typer.Option("", "--tag", help="Run label mixed into every seed: a new tag samples new data."),
    summary_json: Path = typer.Option(None, "--summary-json", help="Also write the run summary (JSON) here."),
    verbose: bool = typer.Option(False, "--verbose", help="Show vLLM's and Prefect's own log instead of a log file."),
    strict_budget: bool = typer.Option(False, "--strict-budget", help="Exit 3 when the budget stopped the run."),
    estimate: bool = typer.Option(
        False, "--estimate", help="Run only a pilot (checkpointed, reused by the real run) and print the projection."
    ),
    pilot_shards: int = typer.Option(1, "--pilot-shards", min=1, help="With --estimate: shards per source to pilot."),
    data_dir: Path = DataDir,
) -> None:
    """Run the whole DAG of PIPELINE once: sources -> judge -> filters -> dedup -> decontamination
    -> one new version. Work is sharded and checkpointed: after a crash or kill, run the same command
    again and it resumes; a run that already published is not published twice. Shows one progress
    line; the engine's own log goes to a file under the dataset's checkpoints (unless --verbose).

    A `budget:` reached, or a first Ctrl-C / SIGTERM, stops cleanly: no new model calls, and what passed
    is published with `stopped: budget` / `stopped: interrupted` (exit 0, or 3 with --strict-budget;
    130 when interrupted). Run again (with a larger budget) to publish the rest as the next version.
    A second Ctrl-C stops at once and publishes nothing.

    Example:  synthloom run data/pipelines/demo.yaml --estimate
    """
    cfg = _load_pipeline(pipeline)
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    label = f"synthloom run {'--estimate ' if estimate else ''}{pipeline}"
    summary = _run_locked(cfg, data_dir.resolve() / "datasets", tag, label, pilot_shards if estimate else None)
    if summary_json is not None:
        summary_json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if estimate:
        return _print_estimate(summary)
    _print_run(summary, data_dir)
    _exit_if_stopped(summary, strict_budget)


def _exit_if_stopped(summary: dict[str, Any], strict_budget: bool) -> None:
    """One line when a stop cut the run short; exit 130 when interrupted, 3 on a budget if strict."""
    stopped = summary.get("stopped")
    if stopped is None or summary.get("already_published"):
        return
    detail = (summary.get("ledger") or {}).get("stop_detail") or stopped
    refs = ", ".join(summary["versions"])
    more = "with a larger budget " if stopped == "budget" else ""
    typer.secho(
        f"warning: stopped ({detail}); published what passed as {refs} (stopped: {stopped}). "
        f"Run the same command again {more}to publish the rest as the next version.",
        fg="yellow",
        err=True,
    )
    if stopped == "interrupted":
        raise typer.Exit(130)
    if strict_budget:
        raise typer.Exit(3)


def _ledger_line(ledger: dict[str, Any] | None) -> str | None:
    """Tokens and cost of the version's rows, and what this run spent (checkpoints cost nothing)."""
    if not ledger:
        return None
    per = ledger.get("per_kept_row") or {}
    line = f"cost: {ledger['prompt_tokens']}+{ledger['completion_tokens']} tokens"
    if per.get("completion_tokens") is not None:
        line += f" ({per['prompt_tokens']:.0f}+{per['completion_tokens']:.0f} per kept row)"
    if ledger.get("cost_usd") is not None:
        line += f", ${ledger['cost_usd']:.4f}"
        line += f" (${per['cost_usd']:.6f} per kept row)" if per.get("cost_usd") is not None else ""
    run = ledger.get("this_run") or {}
    return line + f"; this run: {run.get('prompt_tokens', 0)}+{run.get('completion_tokens', 0)} new tokens"


def _run_locked(cfg: Any, root: Path, tag: str, label: str, pilot_shards: int | None = None) -> dict[str, Any]:
    """Run one pipeline config under the dataset's lock (one writer per dataset, taken before Prefect
    starts), with one progress display and the engine's log in a file unless --verbose. With
    `pilot_shards`: only the estimate's pilot (flows/run/estimate.py), no Prefect."""
    from flows.store.locks import dataset_lock

    verbose = os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")
    from flows.stopping import ends_children_on_interrupt

    with ends_children_on_interrupt(), dataset_lock(root, cfg.dataset, label):
        _prefect_env()
        log_path = None if verbose else _run_log_path(root, cfg.dataset)
        try:
            summary = _run_with_progress(cfg.model_dump(mode="json"), root, tag, log_path, pilot_shards)
        except SynthloomError as err:
            hint = "nothing was published; finished shards are checkpointed: run the same command again to resume"
            where = f"; engine log: {log_path}" if log_path is not None else ""
            raise type(err)(f"{err} ({hint}{where})") from None
    summary["engine_log"] = str(log_path) if log_path is not None else None
    return summary


def _run_log_path(root: Path, dataset: str) -> Path:
    """Where a run's engine/Prefect log goes: next to the dataset's checkpoints, one file per run."""
    import datetime

    from flows.run.checkpoints import CACHE_DIR

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return root / CACHE_DIR / dataset / "logs" / f"run-{stamp}-{os.getpid()}.log"


def _run_with_progress(
    config: dict[str, Any], root: Path, tag: str, log_path: Path | None, pilot_shards: int | None = None
) -> dict[str, Any]:
    """pipeline_flow (or with `pilot_shards`, the estimate's pilot) under one progress display; with
    `log_path`, everything else goes to that file."""
    import contextlib

    from flows import progress
    from flows.pipeline import pipeline_flow
    from generators.engines.batching import live_stats

    with contextlib.ExitStack() as stack:
        ui = sys.stdout if log_path is None else stack.enter_context(progress.output_to_log(log_path))
        prog = progress.Progress(out=ui, engine_stats=live_stats, tty=ui.isatty())
        prog.phase("starting")
        progress.install(prog.start())
        stack.callback(progress.install, None)
        stack.callback(prog.close)
        if pilot_shards is not None:
            from flows.pipeline import engine_factory
            from flows.run.config import PipelineConfig
            from flows.run.core import PipelineRun
            from flows.run.estimate import estimate
            from schemas.config import parse_config

            prog.phase("pilot")
            cfg = parse_config(PipelineConfig, config, "pipeline config")
            return estimate(PipelineRun(cfg, root, tag, "estimate", engine_factory()), pilot_shards)
        return pipeline_flow(config, str(root), tag)


def _print_estimate(found: dict[str, Any]) -> None:
    if "already_published" in found:
        typer.echo(f"already published by an earlier run of this config: {', '.join(found['already_published'])}")
        return
    p, proj = found["pilot"], found["projection"]
    typer.echo(
        f"\nestimate from a pilot of {p['shards']} shard(s), {p['attempts']} attempts, {p['seconds']:.0f} s "
        "(checkpointed: the real run reuses them)"
    )
    for s in found["sources"]:
        stages = ", ".join(f"{k} {v[0]:.0f}+{v[1]:.0f}" for k, v in s["per_kept_row"].items() if v[0] or v[1])
        typer.echo(
            f"  {s['source']}: {s['passing']} of {s['attempts']} pass ({s['yield']:.0%}); per kept row: "
            f"{stages or 'no model tokens'} prompt+completion tokens; {s['seconds_per_kept_row']:.1f} s"
        )
    goal = proj["target_rows"]
    goal = "the whole run" if goal is None else f"target_rows={goal}"
    usd = f", ${proj['usd']:.4f}" if proj["usd"] is not None else " (no engine.prices: no cost)"
    fast, slow = proj["seconds"]
    typer.echo(
        f"  projection for {goal}: ~{proj['attempts']} attempts -> ~{proj['rows']} rows, "
        f"{proj['prompt_tokens']}+{proj['completion_tokens']} prompt+completion tokens, "
        f"{fast / 60:.1f}-{slow / 60:.1f} min on this engine (shards overlapped .. one at a time){usd}"
    )


def _print_run(summary: dict[str, Any], data_dir: Path) -> None:
    if summary["already_published"]:
        typer.echo(f"already published by an earlier run of this config: {', '.join(summary['versions'])}")
        if summary.get("eval"):
            typer.echo(f"  {summary['eval']}")
        return
    typer.echo(f"\nrun finished in {summary['wall_seconds']:.1f}s; shard tasks:")
    for stage, s in summary["stages"].items():
        typer.echo(f"  {stage}: {s['run']} run, {s['cached']} from checkpoints, {s['seconds']:.1f}s")
    share = summary["outside_llm_share"]
    typer.echo(f"  merge/dedup/decontaminate/publish: {summary['publish_seconds']:.1f}s; outside the LLM: {share:.1%}")
    if summary.get("engines"):
        typer.echo("  models: " + "; ".join(f"{stage} on {engine}" for stage, engine in summary["engines"].items()))
    if summary.get("engines_built"):
        typer.echo(f"  engines built in this process: {'; '.join(summary['engines_built'])}")
    for note in ("target", "judge_gate", "judge_engine", "eval"):
        if summary.get(note):
            typer.echo(f"  {summary[note]}")
    if line := _ledger_line(summary.get("ledger")):
        typer.echo(f"  {line}")
    if summary.get("engine_log"):
        typer.echo(f"  engine and Prefect log: {summary['engine_log']} (--verbose shows it live)")
    store = _store(data_dir)
    for ref in summary["versions"]:
        _print_summary(data_dir, store.get(ref))


@app.command("serve")
@friendly_errors
def serve_cmd(
    pipeline: Path = PipelineArg,
    cron: str = typer.Option(None, "--cron", help='Cron schedule, e.g. "0 3 * * *" (03:00 every day).'),
    every: float = typer.Option(None, "--every", min=1, help="Instead of --cron: a run every SECONDS."),
    name: str = typer.Option(None, "--name", help="Deployment name [default: the dataset name]."),
    timezone: str = typer.Option("UTC", "--timezone", help="Time zone of the cron schedule."),
    overlap: str = typer.Option("queue", "--overlap", help="A tick while a run is going: queue (run after) or skip."),
    on_stop: str = typer.Option("cancel", "--on-stop", help="On SIGTERM/Ctrl-C: cancel or finish the current run."),
    stop_grace: float = typer.Option(10.0, "--stop-grace", min=1, help="Seconds a stop may take before kill."),
    data_dir: Path = DataDir,
) -> None:
    """Serve PIPELINE on a schedule (a Prefect deployment): each scheduled run publishes a new version
    whose manifest names the version before it. One run at a time (--overlap). Needs a Prefect server:
    `prefect server start`, then PREFECT_API_URL=http://127.0.0.1:4200/api. Stop with Ctrl-C or SIGTERM:
    the current run is cancelled (or finished: --on-stop finish) and no child process is left behind.

    Example:  synthloom serve data/pipelines/demo.yaml --cron "0 3 * * *"
    """
    _check_serve_options(cron, every, overlap, on_stop)
    if cron is not None:
        _check_cron(cron, timezone)
    _require_prefect_server()
    cfg = _load_pipeline(pipeline)
    _prefect_env()
    from flows.pipeline import pipeline_flow
    from flows.serving import ServeSpec, make_schedule, serve

    params = {"config": cfg.model_dump(mode="json"), "root": str(data_dir.resolve() / "datasets")}
    spec = ServeSpec(name or cfg.dataset, make_schedule(cron, every, timezone), params, overlap, on_stop, stop_grace)
    raise typer.Exit(serve(pipeline_flow, spec))


def _check_serve_options(cron: str | None, every: float | None, overlap: str, on_stop: str) -> None:
    from schemas.errors import ConfigError

    if (cron is None) == (every is None):
        raise ConfigError('serve needs exactly one schedule: --cron "0 3 * * *" or --every SECONDS')
    if overlap not in ("queue", "skip"):
        raise ConfigError(f"invalid --overlap {overlap!r}: use queue or skip")
    if on_stop not in ("cancel", "finish"):
        raise ConfigError(f"invalid --on-stop {on_stop!r}: use cancel or finish")


def _require_prefect_server() -> None:
    """Schedules need a long-lived server: Prefect's temporary one runs no scheduler."""
    from prefect.settings import PREFECT_API_URL

    from schemas.errors import ConfigError

    start = "start one with `prefect server start`, then export PREFECT_API_URL=http://127.0.0.1:4200/api"
    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError(f"synthloom serve needs a Prefect server (the temporary one runs no schedules): {start}")
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as err:
        msg = f"no Prefect server answers at PREFECT_API_URL={url} ({type(err).__name__})"
        raise ConfigError(f"{msg}: {start}") from None


def _check_cron(cron: str, timezone: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    from schemas.errors import ConfigError

    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as err:
        msg = err.errors()[0]["msg"]
        example = '--cron "0 3 * * *" --timezone UTC'
        raise ConfigError(f"invalid --cron {cron!r} / --timezone {timezone!r}: {msg} (e.g. {example})") from None


@app.command("schedules")
@friendly_errors
def schedules_cmd(
    name: str = typer.Option(None, "--name", help="Only this deployment (serve's --name, default the dataset)."),
    last: int = typer.Option(5, "--last", min=1, help="How many of the last runs to list."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of text."),
) -> None:
    """The pipelines `synthloom serve` deployed: schedule, active or paused, overlap policy, next run
    times, and the last runs with their state and the version each published (Prefect API).

    Example:  PREFECT_API_URL=http://127.0.0.1:4200/api synthloom schedules --name nightly
    """
    _require_prefect_server()
    _prefect_env()
    from flows.schedules import format_report, schedules_report

    report = schedules_report(name, last=last)
    typer.echo(json.dumps(report, indent=2) if as_json else format_report(report))


@app.command("score")
@friendly_errors
def score_cmd(
    ref: str = RefArg,
    out: str = OutOpt,
    config: Path = ConfigOpt,
    pairwise: bool = typer.Option(False, "--pairwise", help="Sample candidates, judge pairs both ways, emit DPO rows."),
    data_dir: Path = DataDir,
) -> None:
    """LLM-judge a dataset version: rubric scores, or DPO pairs with --pairwise.

    Rubric scores become judge_* columns (unparseable verdicts become rejects); --pairwise judges
    candidate pairs in both orders and keeps consistent verdicts as (prompt, chosen, rejected).

    Example:  synthloom score demo@v1 --out demo_scored
    """
    _transform("pairwise" if pairwise else "score", ref, out, config, data_dir)


@app.command("filter")
@friendly_errors
def filter_cmd(
    ref: str = RefArg,
    out: str = OutOpt,
    config: Path = ConfigOpt,
    benchmark: list[Path] = typer.Option(
        None,
        "--benchmark",
        "-b",
        help="Benchmark test set to decontaminate against (.jsonl/.parquet/.csv/.txt or HF folder); repeatable.",
    ),
    data_dir: Path = DataDir,
) -> None:
    """Quality heuristics, then n-gram decontamination against --benchmark sets.

    Heuristics: length, truncation, ':' endings, refusals, judge score, runaway loops, repetition,
    language. Dropped rows land in the rejects table with their reason.

    Example:  synthloom filter demo_scored@v1 --out demo_clean --benchmark gsm8k_test.jsonl
    """
    overrides = {"decontaminate.sources": [str(b) for b in benchmark]} if benchmark else None
    _transform("filter", ref, out, config, data_dir, overrides)


@app.command("dedup")
@friendly_errors
def dedup_cmd(
    ref: str = RefArg,
    out: str = OutOpt,
    config: Path = ConfigOpt,
    data_dir: Path = DataDir,
    semantic: bool = typer.Option(
        False, "--semantic", help="Then also drop paraphrased instructions (MiniLM embeddings, `semantic_dedup:`)."
    ),
    against: list[str] = typer.Option(
        None, "--against", help="Also drop rows that duplicate this published version (NAME@vN); repeatable."
    ),
) -> None:
    """Exact and near-duplicate removal, also against every earlier version of OUT.

    MinHash-LSH candidates are verified with rapidfuzz; a persisted index means repeated runs never
    re-add old rows. Dropped rows name their cluster and the row kept. With --semantic, rows whose
    instruction is within a cosine threshold of an earlier kept one are dropped too (semantic_duplicate),
    and kept rows get an nn_similarity column.

    Example:  synthloom dedup demo_clean@v1 --out demo_final --semantic
    """
    _transform("semantic_dedup" if semantic else "dedup", ref, out, config, data_dir, against=against)


@app.command("import")
@friendly_errors
def import_cmd(
    paths: list[str] = typer.Argument(..., help="Files, folders or globs: .jsonl .json .parquet .csv, save_to_disk."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset to publish a new version of."),
    mapping: str = typer.Option(
        None, "--map", help="Columns by name: instruction=COL,response=COL (or messages=COL, conversations=COL)."
    ),
    max_row_bytes: int = typer.Option(1 << 20, "--max-row-bytes", min=1, help="Larger records become rejects."),
    data_dir: Path = DataDir,
) -> None:
    """Import an existing dataset as a version: then score, filter, dedup, export or train on it.

    Columns are found by well-known names (instruction/response, prompt/completion, question/answer,
    input/output, ShareGPT `conversations`, OpenAI `messages`) or --map; every other column is kept.
    Records that cannot be read or hold no conversation go to the version's rejects with the raw record.
    Importing the same files again says "already published".

    Example:  synthloom import my_sft.jsonl --dataset mysft
    """
    from flows.imports.mapping import Mapping
    from flows.imports.run import import_files

    result = import_files(_store(data_dir), paths, dataset, Mapping.parse(mapping), max_row_bytes)
    if result.already_published:
        typer.echo(f"already published: these files were imported as {result.version.ref}")
        return
    m = result.version.manifest()
    for f in result.files:
        typer.echo(f"  {f['path']}: {f['rows']} records, {f['kept']} rows")
    typer.echo(f"published {result.version.ref}: {m.rows} rows, {m.rejects} rejects -> {result.version.path}")


@app.command("export")
@friendly_errors
def export_cmd(
    ref: str = RefArg,
    fmt: str = typer.Option("chat-jsonl", "--format", "-f", help="chat-jsonl, sharegpt or hf (datasets folder)"),
    output: Path = typer.Option(..., "--output", "-o", help="File (jsonl) or folder (hf) to create."),
    data_dir: Path = DataDir,
) -> None:
    """Write a version in a format trainers read directly.

    Example:  synthloom export demo@v1 --format chat-jsonl --output demo_v1.jsonl
    """
    from flows.store.export import export_version

    version = _store(data_dir).get(ref)
    n = export_version(version, fmt, output)
    typer.echo(f"exported {n} rows of {version.ref} as {fmt} -> {output}")


@datasets_app.command("list")
@friendly_errors
def datasets_list(data_dir: Path = DataDir) -> None:
    """Every dataset with its versions.

    Example:  synthloom datasets list
    """
    store = _store(data_dir)
    names = store.names()
    if not names:
        typer.echo(f"no datasets under {store.root} yet: try `synthloom generate magpie --dataset demo`")
        return
    from schemas.errors import CorruptVersionError

    for name in names:
        versions = store.versions(name)
        for v in reversed(versions):  # the newest readable version; corrupt ones are reported and skipped
            try:
                latest = v.manifest()
            except CorruptVersionError as err:
                typer.secho(f"warning: {err}", fg="yellow", err=True)
                continue
            typer.echo(f"{name}: {len(versions)} version(s), latest v{latest.version} with {latest.rows} rows")
            break
        else:
            typer.echo(f"{name}: {len(versions)} version(s), none readable (see the warnings)")


@datasets_app.command("show")
@friendly_errors
def datasets_show(ref: str = typer.Argument(..., help="NAME (latest) or NAME@vN"), data_dir: Path = DataDir) -> None:
    """A version's manifest (config, counts and tokens per stage, files) and its dataset card
    (Markdown + plots: stage counts, rejection reasons, judge scores, lengths, categories, samples).

    Example:  synthloom datasets show demo@v1
    """
    from flows.report import card_path, write_card

    version = _store(data_dir).get(ref)
    typer.echo(f"# {version.ref} at {version.path}")
    typer.echo(json.dumps(version.manifest().model_dump(mode="json"), indent=2))
    card = card_path(version) or write_card(version)  # older versions, or a crash before the card
    typer.echo(f"\ndataset card: {card} (plots beside it)")


@datasets_app.command("verify")
@friendly_errors
def datasets_verify(
    ref: str = typer.Argument(None, help="NAME@vN, NAME (all its versions) or nothing (every dataset)"),
    data_dir: Path = DataDir,
) -> None:
    """Check that published files still match their manifest (size and SHA-256) and name what changed.

    Exit code 0: all intact; 1: something changed (listed, with the fix).

    Example:  synthloom datasets verify demo@v1
    """
    from flows.store.verify import select, verify_version

    versions = select(_store(data_dir), ref)
    if not versions:
        typer.echo("no published versions to verify")
        return
    bad = 0
    for v in versions:
        check = verify_version(v)
        if check.ok:
            typer.echo(f"{check.ref}: ok ({check.files} files, {check.bytes} bytes match the manifest)")
        else:
            bad += 1
            typer.secho(f"{check.ref}: CHANGED", fg="red")
            for problem in check.problems:
                typer.echo(f"  {problem}")
            typer.echo(f"  fix: {check.fix}")
        for note in check.notes:
            typer.echo(f"  note: {note}")
    if bad:
        typer.secho(f"{bad} of {len(versions)} version(s) changed since publishing", fg="red", err=True)
        raise typer.Exit(1)


@app.command("train")
@friendly_errors
def train_cmd(
    ref: str = typer.Argument(..., help="Dataset version to train on: NAME@vN (NAME alone pins the latest)."),
    steps: int = typer.Option(None, "--steps", min=1, help="Optimizer steps [config: max_steps, default 3]."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML/JSON TrainConfig (model, learning_rate, ...)."),
    data_dir: Path = DataDir,
) -> None:
    """Fine-tune a model on a pinned dataset version (TRL SFT; the embedded SmolLM2 on CPU by
    default) and record which version trained which checkpoint in the catalog view `trainings`.

    Example:  synthloom train demo@v1 --steps 3 && synthloom query "SELECT dataset, checkpoint FROM trainings"
    """
    from flows.train import TrainConfig
    from schemas.config import load_config

    overrides = {"max_steps": steps} if steps is not None else {}
    cfg = load_config(TrainConfig, config, overrides)
    _prefect_env()
    from flows.train import train_flow

    record = train_flow(str(data_dir / "datasets"), ref, cfg)
    loss = "n/a" if record.final_loss is None else f"{record.final_loss:.3f}"
    typer.echo(f"trained {record.model} on {record.dataset} ({record.train_rows} rows, {record.steps} steps, ")
    typer.echo(f"  final loss {loss}, {record.seconds:.0f}s) -> {record.checkpoint}")


@app.command("eval")
@friendly_errors
def eval_cmd(
    refs: list[str] = typer.Argument(..., help="NAME@vN to evaluate, or: compare A B (deltas of two evals)."),
    base: str = typer.Option(None, "--base", help="Base model: embedded (default) or a local HF folder."),
    steps: int = typer.Option(None, "--steps", min=1, help="LoRA optimizer steps (default: from --epochs)."),
    epochs: float = typer.Option(None, "--epochs", min=0.01, help="Passes over the rows, at most 500 (default 1)."),
    suite: str = typer.Option(None, "--suite", help="Eval suite in flows/evals/suite/ (default core)."),
    suite_size: int = typer.Option(None, "--suite-size", min=1, help="First N items of each part (smoke runs)."),
    judge_config: Path = typer.Option(None, "--judge-config", help="Config naming a calibrated judge."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML/JSON EvalConfig (flows/evals/runner.py)."),
    data_dir: Path = DataDir,
) -> None:
    """What a version teaches: fine-tune the base on its rows (the `train` stage, LoRA), score base and
    tuned on the shipped suite (ref_nll, if_pass, judge_winrate when a calibrated judge is configured),
    each with a bootstrap 95% interval; write <dataset>/evals/, the `evals` view and the card section.

    Example:  synthloom eval demo@v1 --steps 20 && synthloom eval compare demo@v1 demo@v2
    """
    from flows.evals.report import run_command

    opts = {"base": base, "steps": steps, "epochs": epochs, "suite": suite, "suite_size": suite_size}
    opts["judge_config"] = str(judge_config) if judge_config else None
    run_command(refs, opts, config, data_dir / "datasets", typer.echo)


@app.command("query")
@friendly_errors
def query_cmd(
    sql: str = typer.Argument(..., help="One read-only SQL statement."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
    data_dir: Path = DataDir,
) -> None:
    """Read-only SQL (DuckDB) over every dataset, in a sandbox: no file writes, ATTACH, extensions,
    settings or network, whatever the statement.

    Views: NAME (latest version), NAME_all (all versions, plus a `version` column), NAME_rejects,
    NAME_rejects_all, versions (one row per dataset version: counts, parents, config hash, stages),
    trainings (which dataset version trained which checkpoint). A corrupt version is left out, with a warning.

    Example:  synthloom query "SELECT version, count(*) FROM demo_all GROUP BY 1"
    """
    from flows.console import query_and_print

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter(f"--format must be table, csv or json, not {fmt!r}")
    query_and_print(sql, fmt, data_dir, lambda m: typer.secho(f"warning: {m}", fg="yellow", err=True))


@app.command("view")
@friendly_errors
def view_cmd(
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; the default serves this machine only."),
    data_dir: Path = DataDir,
) -> None:
    """A local, read-only web app over every dataset: versions, rows (search, sort, filters), a row with
    its conversation and lineage, rejects with raw text, the card, the diff of two versions. Prints its URL.

    Example:  synthloom view   (then open http://127.0.0.1:8765/)
    """
    from flows.viewer import serve

    serve(data_dir / "datasets", host, port, typer.echo)


@judge_app.command("calibrate")
@friendly_errors
def judge_calibrate(
    config: Path = typer.Option(None, "--config", "-c", help="Pipeline YAML, or a config with judge:/heuristics:."),
    calibration_set: Path = typer.Option(None, "--set", help="JSONL: instruction, response, label good|bad, kind."),
    refresh: bool = typer.Option(False, "--refresh", help="Measure again even when a cached report exists."),
    data_dir: Path = DataDir,
) -> None:
    """Score a labeled set (good rows, and bad ones: refusal, echo, truncated, looping, wrong language,
    off-topic, wrong answer, template leak) with the configured judge and report how well its scores
    separate them: ROC AUC, accuracy at min_judge_score, a confusion table, per-kind scores, a plot.
    Exit 0 when the judge reaches its floor (judge.calibration.min_auc), 1 when it does not.

    Example:  synthloom judge calibrate --config data/pipelines/demo.yaml
    """
    from flows.pipeline import engine_factory
    from flows.report.calibration import calibration_plot
    from flows.run.judge_gate import calibrated, judge_settings

    judge, engine_cfg, threshold = judge_settings(config)
    if calibration_set is not None:
        chosen = judge.calibration.model_copy(update={"calibration_set": str(calibration_set)})
        judge = judge.model_copy(update={"calibration": chosen})
    root = data_dir / "datasets"  # the pipeline's root: `run` reuses this report and vice versa
    report, cached, path = calibrated(
        root, judge, engine_cfg, threshold, lambda: engine_factory()(engine_cfg), refresh=refresh
    )
    typer.echo(report.table())
    plot = path.with_suffix(".png")
    calibration_plot(report.model_dump(mode="json"), plot)
    again = "  (cached; --refresh measures again)" if cached else ""
    typer.echo(f"\nplot: {plot}  report: {path}{again}")
    raise typer.Exit(0 if report.passed else 1)


if __name__ == "__main__":
    app()
