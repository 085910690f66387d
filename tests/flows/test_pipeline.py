"""The Magpie flow against a real Prefect server, with a scripted engine (logic only)."""

import pytest

import flows.tasks
from flows.pipeline import magpie_flow
from flows.store import DatasetStore
from schemas.config import GenerateConfig, MagpieConfig
from tests.fakes import ScriptedEngine


@pytest.fixture
def scripted(monkeypatch):
    n = iter(range(10**6))
    engine = ScriptedEngine(lambda p, sp: f"What is fact number {next(n)}?", lambda m, sp: "A fact.")
    monkeypatch.setattr(flows.tasks, "make_engine", lambda cfg: engine)
    return engine


def test_flow_publishes_a_version_with_its_run_id(tmp_path, scripted):
    cfg = GenerateConfig(magpie=MagpieConfig(n=6))
    v1 = magpie_flow(cfg, "flowtest", str(tmp_path))
    v2 = magpie_flow(cfg, "flowtest", str(tmp_path))
    assert (v1.number, v2.number) == (1, 2)
    m = v1.manifest()
    assert m.rows == 6 and m.stages[0].name == "magpie" and m.config["magpie"]["n"] == 6
    rows = v1.read()
    assert set(rows.column("run_id").to_pylist()) == {m.run_id}
    assert m.run_id != v2.manifest().run_id
    assert DatasetStore(tmp_path).get("flowtest").number == 2
