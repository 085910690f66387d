"""The end of a pipeline run: gather every shard's checkpoints, merge, dedup (also against earlier
versions), decontaminate, publish one version (and the augmented corpus of from_text sources).
The manifest's stages add up: each stage's rows_in == kept + rejected, summed over shards.
A run whose run key is already in a published manifest is not published again."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from filters.base import split_rows
from flows.report import write_card
from flows.run.core import PipelineRun, ShardOut
from flows.run.finish_stages import FINISH, sync_indexes
from flows.run.ledger import run_ledger
from flows.run.plan import Plan
from flows.run.rounds import POOL, goals
from flows.store import DatasetStore, Version
from flows.store.datasets import parquet_batches
from flows.store.publish import publish_version
from flows.store.spill import Spill, conform
from flows.store.tempdirs import scratch_dir
from generators.engines import built_engines
from generators.engines.spend import METER
from readers.documents import skipped_rejects
from schemas.manifest import StageStats
from schemas.result import StageResult
from schemas.rows import REJECT_SCHEMA, SFT_SCHEMA
from schemas.stage import GlobalStage, StageContext

CORPUS_SUFFIX = "_corpus"


Source = pa.Table | Path  # a shard's rows: a table, or the Parquet file of its checkpoint
Results = Iterator[StageResult]


@dataclass
class Gathered:
    """What the finish works on: the shards' rows (read one source at a time), every stage's rejects
    (into `spill` when one is given, else held) and per-stage stats summed over shards and batches."""

    rows: list[Source] = field(default_factory=list)
    rejects: list[pa.Table] = field(default_factory=list)
    stages: dict[str, StageStats] = field(default_factory=dict)
    spill: Spill | None = None

    def add_stats(self, s: StageStats) -> None:
        old = self.stages.get(s.name)
        if old is None:
            self.stages[s.name] = s
            return
        sums = {f: getattr(old, f) + getattr(s, f) for f in ("rows_in", "rows_out", "rejected", "seconds")}
        tokens = {f: getattr(old, f) + getattr(s, f) for f in ("prompt_tokens", "completion_tokens")}
        self.stages[s.name] = old.model_copy(update={**sums, **tokens, "seconds": round(sums["seconds"], 3)})

    def add_rejects(self, rejects: pa.Table) -> None:
        if self.spill is not None:
            self.spill.write(rejects)
        elif rejects.num_rows:
            self.rejects.append(rejects)

    def add_result(self, r: StageResult) -> None:
        self.add_stats(r.stats)
        self.add_rejects(r.rejects)

    def all_rejects(self) -> list[pa.Table | Spill]:
        return [*self.rejects, *([self.spill] if self.spill is not None else [])] or [REJECT_SCHEMA.empty_table()]


RESUMABLE = ("budget", "interrupted")  # stops a rerun goes on from; max_attempts is an answer, not a stop


def find_published(store: DatasetStore, name: str, run_key: str) -> Version | None:
    """The version this run key published in full (a version a stop cut short does not count)."""
    for v in reversed(store.versions(name)):
        m = v.manifest()
        if m.config.get("run_key") == run_key and m.stopped not in RESUMABLE:
            return v
    return None


def continued(run: PipelineRun, run_key: str) -> PipelineRun:
    """`run` after the versions earlier runs of this run key published before a stop cut them short:
    their shards are not published again, and target_rows counts their rows."""
    manifests = [v.manifest() for v in DatasetStore(run.root).versions(run.cfg.dataset)]
    partial = [m for m in manifests if m.config.get("run_key") == run_key and m.stopped in RESUMABLE]
    if not partial:
        return run
    shards = frozenset(k for m in partial for k in m.config.get("finished_shards", []))
    by_source: dict[str, int] = {}
    for m in partial:
        for name, n in ((m.config.get("target") or {}).get("published_by_source") or {}).items():
            by_source[name] = by_source.get(name, 0) + n
    rows = sum(m.rows for m in partial)
    return replace(run, published_before=rows, published_shards=shards, published_by_source=by_source)


def gather(run: PipelineRun, plan: Plan, outs: list[ShardOut], spill: Spill | None = None) -> Gathered:
    """The shards' stats and rejects, and where their rows are (nothing of the rows is read yet)."""
    g = Gathered(spill=spill)
    for report in plan.reads:
        g.add_stats(report.stats)
        g.add_rejects(skipped_rejects(report.skipped, run.run_id))
    for out in run.fresh(outs):
        for ck in run.chain(out):
            g.add_stats(ck.stats)
            g.add_rejects(ck.read("rejects"))
        g.rows.append(run.checkpoint(out.stage, out.key).file("rows"))
    order = [r.stats.name for r in plan.reads] + [s.name for s in (*run.cfg.sources, *run.shard_stages())]
    g.stages = {n: g.stages[n] for n in order if n in g.stages} | g.stages
    return g


def _rows_of(source: Source) -> int:
    return source.num_rows if isinstance(source, pa.Table) else pq.ParquetFile(source).metadata.num_rows


def _batches_of(source: Source) -> Iterator[pa.RecordBatch]:
    if isinstance(source, pa.Table):
        return iter(source.to_batches())
    return parquet_batches(source)


def _ids_of(source: Source) -> pa.ChunkedArray:
    return source.column("id") if isinstance(source, pa.Table) else pq.read_table(source, columns=["id"]).column("id")


def duplicate_ids(sources: list[Source]) -> dict[int, str]:
    """Position (over all sources in order) -> id, for each row whose id an earlier row has."""
    ids = pa.chunked_array([c for s in sources for c in _ids_of(s).chunks], pa.string())
    if pc.count_distinct(ids).as_py() == len(ids):  # the rule: only then a Python pass over the ids
        return {}
    seen: set[str] = set()
    dups = {}
    for i, row_id in enumerate(ids.to_pylist()):
        if row_id in seen:
            dups[i] = row_id
        seen.add(row_id)
    return dups


def merged(g: Gathered) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The shards' rows as one stream (recorded as the merge stage), one source read at a time: a row
    whose id an earlier shard already produced is a `duplicate_conversation`."""
    nonempty = [s for s in g.rows if _rows_of(s)] or g.rows[:1]
    schemas = [s.schema if isinstance(s, pa.Table) else pq.read_schema(s) for s in nonempty]
    schema = pa.unify_schemas(schemas, promote_options="default") if schemas else SFT_SCHEMA
    sources, dups = list(nonempty), duplicate_ids(nonempty)
    g.rows.clear()

    def results() -> Results:
        offset = 0
        while sources:
            for batch in _batches_of(sources.pop(0)):
                started = time.perf_counter()
                verdicts = [_duplicate(dups.get(i)) for i in range(offset, offset + batch.num_rows)]
                offset += batch.num_rows
                yield split_rows(conform(batch, schema), "merge", verdicts, started=started)

    return schema, _kept(g, results(), schema, "merge")


def _duplicate(row_id: str | None) -> tuple[str, str] | None:
    return None if row_id is None else ("duplicate_conversation", f"row {row_id} came from two shards")


def _kept(g: Gathered, results: Results, schema: pa.Schema, name: str) -> Iterator[pa.RecordBatch]:
    """The kept rows of a stage's results, recording each result (or, if the stage yielded none, an
    empty one, so the stage is still in the manifest)."""
    seen = False
    for result in results:
        seen = True
        g.add_result(result.named(name))
        yield from result.rows.to_batches()
    if not seen:
        g.add_result(split_rows(schema.empty_table(), name, []))


def through(
    g: Gathered, stage: GlobalStage, ctx: StageContext, schema: pa.Schema, batches: Iterator[pa.RecordBatch]
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """A finish stage over the stream: its kept rows, and their schema (a stage may add columns, as
    semantic dedup adds `nn_similarity`), read off its first result, the only one held here."""
    results = stage.run_stream(batches, schema, ctx)
    first = next(results, None)
    if first is None:
        return schema, _kept(g, iter(()), schema, ctx.name)
    return first.rows.schema, _kept(g, itertools.chain([first], results), schema, ctx.name)


def filter_all(run: PipelineRun, store: DatasetStore, g: Gathered, spill_dir: Path) -> Spill:
    """merge, then the finish stages that are on (flows/run/finish_stages.py: dedup, semantic dedup,
    decontaminate, each with its index of earlier versions), each fed the kept batches of the one
    before, streamed a record batch at a time into a spill file under `spill_dir` (only semantic
    dedup holds every row at once): memory grows with dedup's sketches, not with the rows' text."""
    schema, batches = merged(g)
    for name, build in FINISH.items():
        stage = build(run, store)
        if stage is not None:
            schema, batches = through(g, stage, StageContext(name, getattr(run, "run_id", "")), schema, batches)
    spill = Spill(spill_dir / "rows.arrow", schema)
    for batch in batches:
        spill.write(batch)
    return spill.close()


def manifest_config(run: PipelineRun, run_key: str) -> dict[str, Any]:
    config = {"kind": "pipeline", "run_key": run_key, "tag": run.tag, "pipeline": run.cfg.model_dump(mode="json")}
    config["engines"] = run.engines()
    if run.rounds is not None:
        config["target"] = run.rounds
    if run.calibration is not None:
        config["judge_calibration"] = run.calibration
    return config


def publish_run(run: PipelineRun, plan: Plan, outs: list[ShardOut], run_key: str) -> list[Version]:
    """Publish the dataset (unless this run key already is) and its corpus (likewise)."""
    store = DatasetStore(run.root)
    name = run.cfg.dataset
    config = manifest_config(run, run_key)
    main = find_published(store, name, run_key)
    if main is None:
        stopped = stopped_by(run, outs)
        if stopped is not None:
            config["finished_shards"] = [o.chain[0][1] for o in run.fresh(outs)]
        with scratch_dir(store.root / name) as scratch:
            g = gather(run, plan, outs, Spill(scratch / "rejects.arrow", REJECT_SCHEMA))
            wanted = goals(run)
            sources = row_sources(run, outs) if wanted is not None and POOL not in wanted else {}
            rows = trimmed(run, g, filter_all(run, store, g, scratch), scratch, sources)
            if sources and run.rounds is not None:
                config["target"] = {**run.rounds, "published_by_source": per_source(rows, sources)}
            latest = store.versions(name)
            parents = [*([latest[-1].ref] if latest else []), *plan.inputs]
            stages = list(g.stages.values())
            ledger = run_ledger(run, stages, rows.num_rows)
            main = publish_version(
                store,
                name,
                rows,
                g.all_rejects(),
                stages,
                config,
                run.run_id,
                parents,
                stopped=stopped,
                ledger=ledger,
                card=write_card,
            )
        sync_indexes(run, store)
    published = [main]
    corpus = publish_corpus(run, plan, outs, store, main, config, run_key)
    return published + ([corpus] if corpus else [])


def stopped_by(run: PipelineRun, outs: list[ShardOut]) -> str | None:
    """'budget' / 'interrupted' when a stop left work undone (a shard cut short, rounds not all run)."""
    cut_rounds = run.rounds is not None and run.rounds.get("stopped") and not run.rounds.get("reached")
    if any(o.stopped for o in outs) or cut_rounds:
        return METER.reason or next(o.stopped for o in outs if o.stopped)
    return None


def count_passing(run: PipelineRun, plan: Plan, outs: list[ShardOut]) -> dict[str, int]:
    """Rows of these shards that would be published now, per source (all under POOL unless sources
    have targets of their own): through the same finish (merge, dedup against earlier versions,
    decontamination) in a scratch dir, publishing nothing."""
    store = DatasetStore(run.root)
    wanted = goals(run)
    with scratch_dir(store.root / run.cfg.dataset) as scratch:
        g = gather(run, plan, outs, Spill(scratch / "rejects.arrow", REJECT_SCHEMA))
        rows = filter_all(run, store, g, scratch)
        if wanted is None or POOL in wanted:
            return {POOL: rows.num_rows}
        return per_source(rows, row_sources(run, outs))


def row_sources(run: PipelineRun, outs: list[ShardOut]) -> dict[str, str]:
    """Row id -> the source that made it, over the shards this run publishes (per-source targets)."""
    return {i: o.chain[0][0] for o in run.fresh(outs) for i in run.read(o).column("id").to_pylist()}


def per_source(rows: Spill | pa.Table, sources: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for batch in rows.to_batches():
        for row_id in batch.column("id").to_pylist():
            counts[sources[row_id]] = counts.get(sources[row_id], 0) + 1
    return counts


def trimmed(run: PipelineRun, g: Gathered, rows: Spill, scratch: Path, sources: dict[str, str]) -> Spill:
    """With a target: the first N rows (rounds and shards in plan order, so the same every time) of
    the pipeline, or of each source with its own target_rows (`sources`: row id -> source, from
    row_sources; empty for the pipeline's target); the rest become rejects `over_target` of a
    `target` stage."""
    wanted = goals(run)
    if wanted is None:
        return rows
    out, seen = Spill(scratch / "target.arrow", rows.schema), {}
    for batch in rows.to_batches():
        table = pa.Table.from_batches([batch])
        verdicts = []
        for row_id in table.column("id").to_pylist():
            goal = sources.get(row_id, POOL)
            seen[goal] = seen.get(goal, 0) + 1
            met = goal in wanted and seen[goal] > wanted[goal]
            verdicts.append(
                ("over_target", f"{_goal_name(goal)}={wanted.get(goal)} already met by earlier rows") if met else None
            )
        result = split_rows(table, "target", verdicts)
        g.add_result(result)
        out.write(result.rows)
    if not seen:
        g.add_result(split_rows(rows.schema.empty_table(), "target", []))
    return out.close()


def _goal_name(goal: str) -> str:
    return "target_rows" if goal == POOL else f"{goal}.target_rows"


def publish_corpus(
    run: PipelineRun, plan: Plan, outs: list[ShardOut], store: DatasetStore, main: Version, config: dict, run_key: str
) -> Version | None:
    wanted = [s.name for s in run.cfg.sources if getattr(s, "corpus", False)]
    if not wanted:
        return None
    name = f"{run.cfg.dataset}{CORPUS_SUFFIX}"
    if found := find_published(store, name, run_key):
        return found
    tables = [run.checkpoint(*o.chain[0]).read("corpus") for o in run.fresh(outs) if o.chain[0][0] in wanted]
    if not tables:
        return None
    table = pa.concat_tables(tables)
    n = table.num_rows
    stats = [StageStats(name="augment", rows_in=n, rows_out=n, rejected=0)]
    stopped = main.manifest().stopped
    return publish_version(
        store, name, table, [], stats, config, run.run_id, [main.ref], stopped=stopped, card=write_card
    )


def published_refs(run: PipelineRun, run_key: str) -> list[str] | None:
    """The versions this run key already published, or None when anything is still missing."""
    store = DatasetStore(run.root)
    main = find_published(store, run.cfg.dataset, run_key)
    if main is None:
        return None
    refs = [main.ref]
    if any(getattr(s, "corpus", False) for s in run.cfg.sources):
        corpus = find_published(store, f"{run.cfg.dataset}{CORPUS_SUFFIX}", run_key)
        if corpus is None:
            return None
        refs.append(corpus.ref)
    return refs


def run_summary(
    refs: list[str],
    task_outs: list[ShardOut],
    wall: float,
    llm_stages: set[str] | None = None,
    publish_seconds: float = 0.0,
    already_published: bool = False,
    judge_gate: str | None = None,
    judge_engine: str | None = None,
    engines: dict[str, str] | None = None,
    target: str | None = None,
    stopped: str | None = None,
    ledger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What `synthloom run` prints and returns: versions, per stage the shard tasks run vs loaded
    from checkpoints and their seconds in this run (shards overlap, so these add up to more than the
    wall time), and the share of wall time spent in work that is not the LLM (heuristics tasks,
    merge/dedup/decontaminate/publish)."""
    stages: dict[str, dict[str, Any]] = {}
    for out in task_outs:
        s = stages.setdefault(out.stage, {"run": 0, "cached": 0, "seconds": 0.0})
        s["cached" if out.cached else "run"] += 1
        s["seconds"] = round(s["seconds"] + out.seconds, 3)
    llm = sum(s["seconds"] for name, s in stages.items() if name in (llm_stages or set()))
    # Shard tasks overlap (several shards in flight), so task seconds add up to more than the wall
    # time: count what is not LLM work (non-LLM tasks, merge/publish) against the wall instead.
    other = sum(s["seconds"] for name, s in stages.items() if name not in (llm_stages or set()))
    return {
        "versions": refs,
        "engines": engines or {},
        "target": target,
        "stopped": stopped,
        "ledger": ledger,
        "engines_built": built_engines(),
        "already_published": already_published,
        "wall_seconds": round(wall, 2),
        "stages": stages,
        "publish_seconds": round(publish_seconds, 3),
        "llm_seconds": round(llm, 3),
        "outside_llm_share": round(min(1.0, (other + publish_seconds) / wall), 4) if wall > 0 else 0.0,
        "judge_gate": judge_gate,
        "judge_engine": judge_engine,  # shared | both loaded (fit) | sequential (generator freed first)
    }
