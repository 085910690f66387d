"""A one-off Magpie run (flows/run/one_off.py) through the pipeline flow on a real Prefect server, with a
scripted engine (logic only): it publishes once per run key, and a new seed samples a new version."""

import pytest

import flows.run.core
from flows.pipeline import pipeline_flow
from flows.run import one_off
from flows.store import DatasetStore
from schemas.config import GenerateConfig, MagpieConfig
from tests.fakes import ScriptedEngine

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server


@pytest.fixture
def scripted(monkeypatch):
    engine = ScriptedEngine(lambda p, sp: f"What is fact number {sp.seed}?", lambda m, sp: "A fact.")
    monkeypatch.setattr(flows.run.core, "make_engine", lambda cfg: engine)
    return engine


def test_one_off_publishes_once_per_run_key(tmp_path, scripted):
    cfg = one_off.magpie("flowtest", GenerateConfig(magpie=MagpieConfig(n=6)))
    first = pipeline_flow(cfg.model_dump(mode="json"), str(tmp_path), "")
    again = pipeline_flow(cfg.model_dump(mode="json"), str(tmp_path), "")
    assert first["versions"] == ["flowtest@v1"] and not first["already_published"]
    assert again["versions"] == ["flowtest@v1"] and again["already_published"]
    v1 = DatasetStore(tmp_path).get("flowtest@v1")
    m = v1.manifest()
    assert m.rows == 6 and m.stages[0].name == "magpie" and m.config["pipeline"]["sources"][0]["magpie"]["n"] == 6
    assert set(v1.read().column("run_id").to_pylist()) == {m.run_id}
    assert v1.read().column("instruction").to_pylist()[0].startswith("What is fact number")


def test_a_new_seed_publishes_a_new_version(tmp_path, scripted):
    for seed in (0, 100):
        cfg = one_off.magpie("flowtest", GenerateConfig(magpie=MagpieConfig(n=2, seed=seed)))
        pipeline_flow(cfg.model_dump(mode="json"), str(tmp_path), "")
    v2 = DatasetStore(tmp_path).get("flowtest")
    assert v2.number == 2 and v2.manifest().parent_versions == ["flowtest@v1"]
