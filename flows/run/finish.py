"""The end of a pipeline run: gather every shard's checkpoints, merge, dedup (also against earlier
versions), decontaminate, publish one version (and the augmented corpus of from_text sources).
The manifest's stages add up: each stage's rows_in == kept + rejected, summed over shards.
A run whose run key is already in a published manifest is not published again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from filters.base import split_rows
from filters.decontaminate import Decontaminate
from filters.dedup import Dedup, combine
from filters.semantic import SemanticDedup
from flows.run.core import PipelineRun, ShardOut
from flows.run.indexes import dedup_index_dir, semantic_index_dir, sync_index, sync_semantic_index
from flows.run.plan import Plan
from flows.store import DatasetStore, Version
from flows.store.publish import publish_version
from generators.documents import skipped_rejects
from schemas.manifest import StageStats
from schemas.result import StageResult
from schemas.rows import REJECT_SCHEMA, SFT_SCHEMA

CORPUS_SUFFIX = "_corpus"


@dataclass
class Gathered:
    rows: list[pa.Table] = field(default_factory=list)
    rejects: list[pa.Table] = field(default_factory=list)
    stages: dict[str, StageStats] = field(default_factory=dict)

    def add_stats(self, s: StageStats) -> None:
        old = self.stages.get(s.name)
        if old is None:
            self.stages[s.name] = s
            return
        sums = {f: getattr(old, f) + getattr(s, f) for f in ("rows_in", "rows_out", "rejected", "seconds")}
        tokens = {f: getattr(old, f) + getattr(s, f) for f in ("prompt_tokens", "completion_tokens")}
        self.stages[s.name] = old.model_copy(update={**sums, **tokens, "seconds": round(sums["seconds"], 3)})

    def add_result(self, r: StageResult) -> None:
        self.add_stats(r.stats)
        self.rejects.append(r.rejects)


def find_published(store: DatasetStore, name: str, run_key: str) -> Version | None:
    for v in reversed(store.versions(name)):
        if v.manifest().config.get("run_key") == run_key:
            return v
    return None


def gather(run: PipelineRun, plan: Plan, outs: list[ShardOut]) -> Gathered:
    g = Gathered()
    for report in plan.reads:
        g.add_stats(report.stats)
        g.rejects.append(skipped_rejects(report.skipped, run.run_id))
    for out in outs:
        for ck in run.chain(out):
            g.add_stats(ck.stats)
            g.rejects.append(ck.read("rejects"))
        g.rows.append(run.read(out))
    order = [r.stats.name for r in plan.reads] + [s.name for s in (*run.cfg.sources, *run.shard_stages())]
    g.stages = {n: g.stages[n] for n in order if n in g.stages} | g.stages
    return g


def merge(tables: list[pa.Table]) -> StageResult:
    """One table; a row whose id an earlier shard already produced is a `duplicate_conversation`."""
    started = time.perf_counter()
    nonempty = [t for t in tables if t.num_rows] or tables[:1] or [SFT_SCHEMA.empty_table()]
    table = pa.concat_tables(nonempty, promote_options="default")
    ids = table.column("id")
    verdicts: list[tuple[str, str] | None] = [None] * table.num_rows
    if pc.count_distinct(ids).as_py() < table.num_rows:  # rare: only then a Python pass over the ids
        seen: set[str] = set()
        for i, row_id in enumerate(ids.to_pylist()):
            if row_id in seen:
                verdicts[i] = ("duplicate_conversation", f"row {row_id} came from two shards")
            seen.add(row_id)
    return split_rows(table, "merge", verdicts, started=started)


def filter_all(run: PipelineRun, store: DatasetStore, g: Gathered) -> pa.Table:
    """merge -> dedup -> semantic dedup (each with its index of earlier versions) -> decontaminate."""
    rows = merged_rows(g)
    if run.cfg.dedup is not None:
        batches, schema = rows.to_batches(), rows.schema
        del rows  # the list of batches is now the only hold on the merged rows (see deduped_rows)
        rows = deduped_rows(run, store, g, batches, schema)
    if run.cfg.semantic_dedup is not None:
        sync_semantic_index(store, run.cfg.dataset, run.cfg.semantic_dedup)
        index_dir = semantic_index_dir(store, run.cfg.dataset)
        result = SemanticDedup(config=run.cfg.semantic_dedup, index_dir=index_dir)(rows)
        g.add_result(result)
        rows = result.rows
    if run.cfg.decontaminate.sources:
        result = Decontaminate(config=run.cfg.decontaminate)(rows)
        g.add_result(result)
        rows = result.rows
    return rows


def merged_rows(g: Gathered) -> pa.Table:
    """The shards' rows as one table (recorded as the merge stage); the shard list lets go of them."""
    result = merge(g.rows)
    g.rows.clear()
    g.add_result(result)
    return result.rows


def deduped_rows(
    run: PipelineRun, store: DatasetStore, g: Gathered, batches: list[pa.RecordBatch], schema: pa.Schema
) -> pa.Table:
    """Dedup (also against earlier versions) over the rows' record batches, letting go of each input
    batch once it is done: the input shrinks while the kept rows grow, so a million rows are not held
    twice at the peak."""
    sync_index(store, run.cfg.dataset, run.cfg.dedup)  # type: ignore[arg-type]
    started = time.perf_counter()
    dedup = Dedup(config=run.cfg.dedup, index_dir=dedup_index_dir(store, run.cfg.dataset))
    result = combine(schema.empty_table(), list(dedup.stream(_drained(batches))), started)
    g.add_result(result)
    return result.rows


def _drained(batches: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches in order, each dropped from the list as it is handed out."""
    batches.reverse()
    while batches:
        yield batches.pop()


def manifest_config(run: PipelineRun, run_key: str) -> dict[str, Any]:
    config = {"kind": "pipeline", "run_key": run_key, "tag": run.tag, "pipeline": run.cfg.model_dump(mode="json")}
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
        g = gather(run, plan, outs)
        rows = filter_all(run, store, g)
        latest = store.versions(name)
        parents = [*([latest[-1].ref] if latest else []), *plan.inputs]
        rejects = [r for r in g.rejects if r.num_rows] or [REJECT_SCHEMA.empty_table()]
        main = publish_version(store, name, rows, rejects, list(g.stages.values()), config, run.run_id, parents)
        if run.cfg.dedup is not None:
            sync_index(store, name, run.cfg.dedup)
        if run.cfg.semantic_dedup is not None:
            sync_semantic_index(store, name, run.cfg.semantic_dedup)
    published = [main]
    corpus = publish_corpus(run, plan, outs, store, main, config, run_key)
    return published + ([corpus] if corpus else [])


def publish_corpus(
    run: PipelineRun, plan: Plan, outs: list[ShardOut], store: DatasetStore, main: Version, config: dict, run_key: str
) -> Version | None:
    wanted = [s.name for s in run.cfg.sources if getattr(s, "corpus", False)]
    if not wanted:
        return None
    name = f"{run.cfg.dataset}{CORPUS_SUFFIX}"
    if found := find_published(store, name, run_key):
        return found
    tables = [run.checkpoint(*o.chain[0]).read("corpus") for o in outs if o.chain[0][0] in wanted]
    if not tables:
        return None
    table = pa.concat_tables(tables)
    n = table.num_rows
    stats = [StageStats(name="augment", rows_in=n, rows_out=n, rejected=0)]
    return publish_version(store, name, table, [], stats, config, run.run_id, [main.ref])


def run_in_process(run: PipelineRun) -> list[Version]:
    """The whole run in this process, shard after shard, without Prefect: the steps pipeline_flow
    runs as tasks (for tests and notebooks; no task runner, no overlap). Resumes and publishes once
    the same way."""
    plan = run.plan()
    run_key = run.run_key(plan)
    store = DatasetStore(run.root)
    if (done := published_refs(run, run_key)) is not None:
        return [store.get(ref) for ref in done]
    run, _ = run.gated()
    outs = []
    for shard in plan.shards:
        out = run.generate(shard)
        for stage in run.shard_stages():
            out = run.step(stage.name, out)
        outs.append(out)
    return publish_run(run, plan, outs, run_key)


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
        "already_published": already_published,
        "wall_seconds": round(wall, 2),
        "stages": stages,
        "publish_seconds": round(publish_seconds, 3),
        "llm_seconds": round(llm, 3),
        "outside_llm_share": round(min(1.0, (other + publish_seconds) / wall), 4) if wall > 0 else 0.0,
        "judge_gate": judge_gate,
        "judge_engine": judge_engine,  # shared | both loaded (fit) | sequential (generator freed first)
    }
