"""`stages:` and `kind: python`: a stage of your own, written in a temp package, runs in the pipeline
like ours: in the order given, checkpointed under its import path + version + config, its rejects and
stats in the version; a bad entry is a config error naming it, before any model loads."""

from __future__ import annotations

import importlib
import sys

import pyarrow as pa
import pytest

from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun
from flows.run.order import run_in_process
from schemas.config import parse_config
from schemas.errors import ConfigError
from schemas.stage import StageContext
from tests.fakes import ScriptedEngine
from tests.flows.run.test_core import answer, instruction


def engine() -> ScriptedEngine:
    return ScriptedEngine(lambda p, sp: instruction(sp.seed), lambda messages, sp: answer(messages[-1]["content"]))


USER_STAGE = """
from typing import ClassVar
from pydantic import BaseModel
from filters.base import split_rows

class OddCaseFilter(BaseModel):
    version: ClassVar[str] = "1"
    config: dict = {}

    def run(self, rows, ctx):
        seeds = rows.column("seed").to_pylist()
        return split_rows(rows, ctx.name, [("odd_case", f"seed {s} is odd") if s % 2 else None for s in seeds])

class NoRun:
    version: ClassVar[str] = "1"
"""


@pytest.fixture
def userpkg(tmp_path, monkeypatch):
    pkg = tmp_path / "pkgs" / "userpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "filters.py").write_text(USER_STAGE)
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    importlib.invalidate_caches()
    yield importlib.import_module("userpkg.filters")
    sys.modules.pop("userpkg.filters", None)
    sys.modules.pop("userpkg", None)


def config(stages, **extra) -> PipelineConfig:
    data = {"dataset": "own", "shard_size": 4, "sources": [{"kind": "magpie", "magpie": {"n": 12}}], "stages": stages}
    return parse_config(PipelineConfig, {"heuristics": None, **data, **extra}, "test")


ODD = {"kind": "python", "callable": "userpkg.filters:OddCaseFilter"}


def test_a_user_stage_runs_like_ours_and_its_version_is_in_the_keys(tmp_path, userpkg):
    e = engine()
    run = PipelineRun(config([ODD]), tmp_path, "", "r", engine_factory=lambda c: e)
    (v,) = run_in_process(run)
    m = v.manifest()
    assert [s.name for s in m.stages][:2] == ["magpie", "odd_case_filter"]
    own = next(s for s in m.stages if s.name == "odd_case_filter")
    rejects = [r for r in v.read("rejects").to_pylist() if r["stage"] == "odd_case_filter"]
    assert own.rejected == len(rejects) > 0 and {r["reason"] for r in rejects} == {"odd_case"}
    assert all(r["raw_text"] and r["record"] for r in rejects)  # the raw text and the row are kept
    assert v.read().num_rows > 0 and all(seed % 2 == 0 for seed in v.read().column("seed").to_pylist())
    calls, key = len(e.calls), run.run_key(run.plan())
    userpkg.OddCaseFilter.version = "2"
    try:
        again = PipelineRun(config([ODD]), tmp_path, "", "r2", engine_factory=lambda c: e)
        assert again.run_key(again.plan()) != key
        run_in_process(again)
    finally:
        userpkg.OddCaseFilter.version = "1"
    assert len(e.calls) == calls  # the source's checkpoints were reused; only the user stage ran again


def test_order_follows_the_list(tmp_path, userpkg):
    first = PipelineRun(config([ODD, "heuristics"], heuristics={}), tmp_path)
    assert [s.name for s in first.shard_stages()] == ["odd_case_filter", "heuristics"]
    default = PipelineRun(config([ODD], heuristics={}), tmp_path)
    assert [s.name for s in default.shard_stages()] == ["heuristics", "odd_case_filter"]


@pytest.mark.parametrize(
    ("stages", "extra", "message"),
    [
        (
            [{"kind": "python", "callable": "nopkg.nomod:X"}],
            {},
            r"stages\[0\]: callable 'nopkg.nomod:X' cannot be imported",
        ),
        ([{"kind": "python", "callable": "userpkg.filters:NoRun"}], {}, "does not meet the stage contract"),
        (["judge"], {}, "listed but not configured"),
        (["judge"], {"judge": {}, "heuristics": {}}, "but not \\['heuristics', 'judge_threshold'\\]"),
        ([ODD, ODD], {}, "appear twice"),
    ],
)
def test_bad_entries_are_config_errors_that_name_them(userpkg, stages, extra, message):
    with pytest.raises(ConfigError, match=message):
        config(stages, **extra)


def test_the_example_filter_through_its_run_with_a_real_context():
    sys.path.insert(0, "examples")
    try:
        from my_filters.no_shouting import NoShouting
    finally:
        sys.path.remove("examples")
    rows = pa.table(
        {"id": ["a", "b"], "response": ["THIS IS A VERY LOUD ANSWER INDEED", "A calm answer, long enough."]}
    )
    result = NoShouting().run(rows, StageContext("no_shouting", "run-1"))
    assert result.rows.column("id").to_pylist() == ["b"]
    assert result.rejects.column("reason").to_pylist() == ["shouting"] and result.stats.name == "no_shouting"
