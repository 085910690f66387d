"""Stages declare the columns they read and add (`inputs` / `outputs`, schemas/stage.py); the plan
checks them from each source's columns before any model loads. The declarations are checked against
what each source and built-in stage really reads and makes, with scripted engines."""

from __future__ import annotations

import importlib
import itertools
import json
import re
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from filters.heuristics import Heuristics, HeuristicsConfig
from filters.judge import PairwiseJudge, RubricJudge
from filters.judge_threshold import JudgeThreshold
from flows.run.config import PipelineConfig, load_pipeline_config
from flows.run.core import PipelineRun
from flows.run.estimate import estimate
from flows.run.order import run_in_process
from flows.sources import KINDS, PlanContext
from flows.sources.base import loaded
from flows.store import DatasetStore
from flows.store.publish import publish_version
from generators.responses import Candidates
from schemas.config import parse_config
from schemas.errors import ConfigError
from schemas.manifest import StageStats
from schemas.stage import Stage, StageContext
from tests.fakes import ScriptedEngine
from tests.flows.run.test_core import engine as pipeline_engine
from tests.flows.run.test_core import verdict
from tests.flows.store.test_datasets import publish
from tests.generators.test_personas import PEOPLE, as_json, chunk_text, parent_and_relation, personas_table, task_engine
from tests.generators.test_text_to_instructions import pairs_json, passage_of

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "data" / "seeds" / "corpus"

USER_STAGE = """
from typing import ClassVar
from pydantic import BaseModel
from filters.base import split_rows

class NeedsAnswer(BaseModel):
    version: ClassVar[str] = "1"
    inputs: ClassVar[tuple[str, ...]] = ("answer",)
    config: dict = {}

    def run(self, rows, ctx):
        return split_rows(rows, ctx.name, [None] * rows.num_rows)

class NeedsResponse(NeedsAnswer):
    inputs: ClassVar[tuple[str, ...]] = ("response",)

def no_engine(cfg):
    raise AssertionError("an engine was made before the plan's column check")
"""


@pytest.fixture
def userpkg(tmp_path, monkeypatch):
    pkg = tmp_path / "pkgs" / "colpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "stages.py").write_text(USER_STAGE)
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    importlib.invalidate_caches()
    yield importlib.import_module("colpkg.stages")
    sys.modules.pop("colpkg.stages", None)
    sys.modules.pop("colpkg", None)


def no_engine(cfg):
    raise AssertionError("an engine was made before the plan's column check")


def pipeline(cls: str, **extra) -> PipelineConfig:
    stage = {"kind": "python", "callable": f"colpkg.stages:{cls}", "name": "no_shouting"}
    data = {"dataset": "cols", "shard_size": 2, "sources": [{"kind": "magpie", "magpie": {"n": 4}}], "stages": [stage]}
    return parse_config(PipelineConfig, {**data, **extra}, "test")


# -- the plan's check -----------------------------------------------------------------------------


def test_a_stage_reading_a_column_nobody_makes_fails_at_plan_before_any_engine(tmp_path, userpkg):
    run = PipelineRun(pipeline("NeedsAnswer", judge={}), tmp_path, engine_factory=no_engine)
    for attempt in (run_in_process, estimate, PipelineRun.plan):  # the local runner, the pilot, every runner's plan
        with pytest.raises(ConfigError) as err:
            attempt(run)
        message = str(err.value)
        assert message.startswith(
            "stage 'no_shouting' needs column 'answer', which no earlier step makes "
            "(source magpie makes: id, messages, instruction, response, prompt_tokens, completion_tokens, "
        )
        assert message.endswith(
            "; stages before it add: judge_raw, judge_score, judge_quality, judge_difficulty, judge_category, "
            "judge_rationale, judge_model, judge_rubric, judge_rubric_hash); rename it or add a stage that makes it"
        )
        assert "\n" not in message
    assert not (tmp_path / "cols").exists()  # nothing published


def test_the_same_stage_reading_response_plans_and_runs(tmp_path, userpkg):
    run = PipelineRun(pipeline("NeedsResponse", heuristics=None), tmp_path, engine_factory=no_engine)
    assert len(run.plan().shards) == 2
    e = pipeline_engine()
    (v,) = run_in_process(run.with_engine_factory(lambda c: e))
    assert [s.name for s in v.manifest().stages][:2] == ["magpie", "no_shouting"]


@pytest.mark.flow  # `synthloom run` through Prefect: the same check, the CLI's one line and exit code 2
def test_synthloom_run_stops_with_the_one_line_before_any_engine(tmp_path, userpkg, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.setenv("SYNTHLOOM_ENGINE_FACTORY", "colpkg.stages:no_engine")
    yaml = tmp_path / "p.yaml"
    yaml.write_text(
        "dataset: cols\nsources:\n  - {kind: magpie, magpie: {n: 2}}\n"
        'stages:\n  - {kind: python, callable: "colpkg.stages:NeedsAnswer", name: no_shouting}\n'
    )
    res = CliRunner().invoke(app, ["run", str(yaml), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2, res.output
    assert (
        "stage 'no_shouting' needs column 'answer', which no earlier step makes (source magpie makes: id" in res.output
    )
    assert "AssertionError" not in res.output


SHIPPED = sorted([*REPO.glob("data/pipelines/*.yaml"), *REPO.glob("examples/*.yaml")])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_pipeline_passes_the_check(tmp_path, monkeypatch, path):
    monkeypatch.chdir(REPO)  # their inputs are relative to the repo root
    monkeypatch.syspath_prepend(str(REPO / "examples"))
    run = PipelineRun(load_pipeline_config(path), tmp_path, engine_factory=no_engine)
    run.check_columns()
    assert run.plan().shards


def test_a_pairwise_pipeline_with_heuristics_after_it_is_refused(tmp_path):
    """The pairwise judge's kept rows are DPO pairs: heuristics after it would find no instruction."""
    cfg = parse_config(
        PipelineConfig, {"dataset": "d", "sources": [{"kind": "magpie"}], "candidates": {}, "pairwise": {}}, "t"
    )
    with pytest.raises(ConfigError, match=r"'heuristics' needs columns 'instruction', 'response'.*'pairwise' makes"):
        PipelineRun(cfg, tmp_path, engine_factory=no_engine).plan()


def test_a_dataset_source_offers_the_columns_its_version_has(tmp_path):
    publish(DatasetStore(tmp_path), "src", ["a?", "b?"])
    data = {"dataset": "out", "sources": [{"kind": "dataset", "ref": "src"}], "pairwise": {}, "heuristics": None}
    with pytest.raises(ConfigError, match=r"'pairwise' needs column 'candidates'.*\(source read makes: id, messages"):
        PipelineRun(parse_config(PipelineConfig, data, "t"), tmp_path, engine_factory=no_engine).plan()
    ok = {**data, "candidates": {}}
    assert PipelineRun(parse_config(PipelineConfig, ok, "t"), tmp_path, engine_factory=no_engine).plan().shards


# -- the declarations against what the stages really do -----------------------------------------


def declared(stage: Stage, given: pa.Table, made: pa.Table) -> None:
    """`stage` reads only columns `given` has, and its kept rows have every column it declares."""
    assert set(stage.inputs) <= set(given.column_names), (type(stage).__name__, given.column_names)
    assert made.num_rows > 0, type(stage).__name__
    assert set(stage.outputs) <= set(made.column_names), (type(stage).__name__, made.column_names)


def context(name: str, engine: ScriptedEngine) -> StageContext:
    return StageContext(name, "r", lambda: engine)


def text_engine() -> ScriptedEngine:
    def first_sentence(messages, sp):
        sentence = re.search(r"[A-Z][^.#\n]{20,}\.", passage_of(messages)).group(0)
        return pairs_json(("factual_qa", f"What is said about {sentence.split()[1]}?", sentence))

    return ScriptedEngine(lambda p, sp: "", first_sentence)


def persona_engine() -> ScriptedEngine:
    def on_chat(messages, sp):
        if "### Text\n" in messages[-1]["content"]:
            return as_json(f"A keen reader of notes about {' '.join(chunk_text(messages).split()[:6])}.")
        parent, relation = parent_and_relation(messages)
        return as_json(f"The {relation} of someone described as: {parent.lower()}")

    return ScriptedEngine(lambda p, sp: "", on_chat)


def seed_file(tmp_path: Path) -> str:
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps({"persona": p}) + "\n" for p in PEOPLE), encoding="utf-8")
    return str(path)


def people(tmp_path: Path) -> str:
    stats = [StageStats(name="s", rows_in=2, rows_out=2, rejected=0)]
    return publish_version(DatasetStore(tmp_path), "people", personas_table(PEOPLE), [], stats, {}, "r").ref


# source kind -> (its config fields, its engine); `personas` twice: a build, and a dataset grown
SOURCES = {
    "magpie": (lambda tmp: {"magpie": {"n": 3}}, pipeline_engine),
    "from_text": (lambda tmp: {"inputs": [str(CORPUS / "tides.md")]}, text_engine),
    "persona_tasks": (lambda tmp: {"limit": 2}, task_engine),
    "personas": (
        lambda tmp: {"inputs": [str(CORPUS / "tides.md")], "personas": {"seed_file": seed_file(tmp)}},
        persona_engine,
    ),
    "personas_expand": (lambda tmp: {"expand": people(tmp)}, persona_engine),
    "dataset": (lambda tmp: {"ref": publish(DatasetStore(tmp), "src", ["a?", "b?"]).ref}, pipeline_engine),
}


def test_every_source_kind_is_checked_here():
    assert {k.removesuffix("_expand") for k in SOURCES} == set(KINDS)


@pytest.mark.parametrize("name", list(SOURCES))
def test_each_source_makes_the_columns_it_declares(tmp_path, name):
    fields, make_engine = SOURCES[name]
    kind = KINDS[name.removesuffix("_expand")]
    cfg = parse_config(PipelineConfig, {"dataset": "d", "sources": [{"kind": kind.kind, **fields(tmp_path)}]}, "t")
    src, ctx = cfg.sources[0], PlanContext(tmp_path, 2, {"model": "m"})
    (_, inputs), *_ = kind.plan(src, ctx).shards
    given, stage = loaded(inputs), kind.stage(src, ctx)
    made = stage.run(given, context(src.name, make_engine())).rows
    assert set(stage.inputs) <= set(given.column_names), (name, given.column_names)
    assert made.num_rows > 0 and set(kind.outputs(src, ctx)) <= set(made.column_names), (name, made.column_names)
    if name != "dataset":  # a dataset's columns are its version's, not its stage class's
        assert kind.outputs(src, ctx) == stage.outputs


def pair_engine() -> ScriptedEngine:
    """Magpie rows, distinct extra candidates, rubric verdicts, and a pairwise judge that prefers the
    reply that sorts first whichever order it sees them in."""
    n = itertools.count()

    def on_chat(messages, sp):
        text = messages[-1]["content"]
        if "### Reply A\n" in text:
            a = text.split("### Reply A\n")[1].split("\n")[0]
            b = text.split("### Reply B\n")[1].split("\n")[0]
            return json.dumps({"better": "A" if a < b else "B"})
        if "### Request" in text and '"quality"' in text:
            return verdict(4)
        return f"They relate in way number {next(n)}, which is explained here at some length."

    return ScriptedEngine(pipeline_engine().on_complete, on_chat)


def test_each_built_in_shard_stage_reads_and_adds_what_it_declares():
    from generators.magpie import Magpie, seeds_table

    engine = pair_engine()
    rows = Magpie().run(seeds_table(0, 4), context("magpie", engine)).rows
    with_candidates = Candidates().run(rows, context("candidates", engine)).rows
    declared(Candidates(), rows, with_candidates)
    judged = RubricJudge().run(with_candidates, context("judge", engine)).rows
    declared(RubricJudge(), with_candidates, judged)
    pairs = PairwiseJudge().run(judged, context("pairwise", engine)).rows
    declared(PairwiseJudge(), judged, pairs)
    assert set(pairs.column_names) == set(PairwiseJudge.outputs)  # its rows are new rows: nothing else follows
    for stage in (Heuristics(config=HeuristicsConfig(allowed_languages=None)), JudgeThreshold()):
        assert set(stage.inputs) <= set(judged.column_names) and stage.outputs == ()
        stage.run(judged, context("filter", engine))
