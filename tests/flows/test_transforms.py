"""score / pairwise / filter / dedup one-offs through the CLI: each runs as a one-source pipeline on
the run core (a real Prefect flow), with a scripted judge engine."""

import json

import pytest
from typer.testing import CliRunner

import flows.run.core
from flows.cli import app
from flows.store import DatasetStore
from tests.fakes import ScriptedEngine
from tests.flows.store.test_datasets import publish

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

runner = CliRunner()
GOOD = json.dumps({"quality": 5, "difficulty": "easy", "category": "information", "rationale": "fine"})


@pytest.fixture
def data_dir(tmp_path):
    publish(DatasetStore(tmp_path / "datasets"), "src", ["a?", "b?", "c?"])
    return tmp_path


def use_engine(monkeypatch, on_chat):
    monkeypatch.setattr(flows.run.core, "make_engine", lambda cfg: ScriptedEngine(lambda p, s: "", on_chat))


def test_score_adds_columns_and_keeps_junk_as_rejects(data_dir, monkeypatch):
    answers = iter([GOOD, "junk", GOOD])
    use_engine(monkeypatch, lambda m, sp: next(answers))
    res = runner.invoke(app, ["score", "src@v1", "--out", "scored", "--data-dir", str(data_dir)])
    assert res.exit_code == 0, res.output
    assert "stage judge: 3 in, 2 kept, 1 rejected" in res.output and "judge/judge_invalid_json: 1" in res.output
    v = DatasetStore(data_dir / "datasets").get("scored")
    m = v.manifest()
    assert m.parent_versions == ["src@v1"] and m.config["pipeline"]["judge"] is not None
    assert [s.name for s in m.stages] == ["read", "judge", "merge"]
    assert v.read().column("judge_quality").to_pylist() == [5, 5]
    rej = v.read("rejects").to_pylist()
    assert rej[0]["raw_text"] == "junk" and rej[0]["stage"] == "judge"


def test_pairwise_emits_dpo_rows(data_dir, monkeypatch):
    def on_chat(messages, sp):
        text = messages[0]["content"]
        if "### Reply A" not in text:
            return "a sampled alternative"
        first = text.split("### Reply A\n")[1].split("\n")[0]
        return json.dumps({"better": "B" if first == "a sampled alternative" else "A"})

    use_engine(monkeypatch, on_chat)
    res = runner.invoke(app, ["score", "src", "--out", "prefs", "--pairwise", "--data-dir", str(data_dir)])
    assert res.exit_code == 0, res.output
    v = DatasetStore(data_dir / "datasets").get("prefs")
    rows = v.read().to_pylist()
    assert len(rows) == 3 and {r["rejected"] for r in rows} == {"a sampled alternative"}
    assert [s.name for s in v.manifest().stages] == ["read", "candidates", "pairwise", "merge"]


def test_score_unknown_input_fails_cleanly(tmp_path):
    res = runner.invoke(app, ["score", "nope@v1", "--out", "x", "--data-dir", str(tmp_path)])
    assert res.exit_code == 2 and "no dataset named 'nope'" in res.output


def test_filter_with_benchmark_rejects_contaminated_rows(tmp_path):
    texts = [
        "Explain how photosynthesis turns light into chemical energy in plants?",
        "What is the smallest prime number that is larger than one hundred and twenty three in value?",
    ]
    publish(DatasetStore(tmp_path / "datasets"), "gen", texts)
    bench = tmp_path / "mathbench.jsonl"
    bench.write_text(json.dumps({"id": "q1", "question": texts[1]}) + "\n")
    res = runner.invoke(
        app, ["filter", "gen", "--out", "clean", "--benchmark", str(bench), "--data-dir", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    v = DatasetStore(tmp_path / "datasets").get("clean")
    assert [s.name for s in v.manifest().stages] == ["read", "heuristics", "merge", "decontaminate"]
    assert v.read().column("instruction").to_pylist() == [texts[0]]
    (rej,) = v.read("rejects").to_pylist()
    assert rej["reason"] == "benchmark_contamination" and "mathbench" in rej["detail"]


def test_filter_with_a_binary_benchmark_file_names_it(tmp_path):
    publish(DatasetStore(tmp_path / "datasets"), "gen", ["What is the capital of France, and why?"])
    bench = tmp_path / "bad.jsonl"
    bench.write_bytes(b"\x00\x01\x02\xff" * 100)
    res = runner.invoke(
        app, ["filter", "gen", "--out", "clean", "--benchmark", str(bench), "--data-dir", str(tmp_path)]
    )
    assert res.exit_code == 2 and "bad.jsonl" in res.output
    assert DatasetStore(tmp_path / "datasets").versions("clean") == []


def test_dedup_is_incremental_across_output_versions(tmp_path):
    store = DatasetStore(tmp_path / "datasets")
    first = ["How do tides work on the coast of Norway in winter?", "Why is the sky blue during the day?"]
    publish(store, "gen", [*first, first[0].replace("winter", "winter ")])
    d = str(tmp_path)
    res = runner.invoke(app, ["dedup", "gen@v1", "--out", "final", "--data-dir", d])
    assert res.exit_code == 0, res.output
    assert store.get("final").read().num_rows == 2
    assert store.get("final").read("rejects").column("reason").to_pylist() == ["exact_duplicate"]
    publish(store, "gen", [first[1], "What makes sourdough bread rise without yeast from a shop?"])
    res = runner.invoke(app, ["dedup", "gen@v2", "--out", "final", "--data-dir", d])
    assert res.exit_code == 0, res.output
    v2 = store.get("final@v2")
    assert v2.read().column("instruction").to_pylist() == ["What makes sourdough bread rise without yeast from a shop?"]
    (rej,) = v2.read("rejects").to_pylist()
    assert rej["reason"] == "duplicate_of_earlier_version" and "final@v1" in rej["detail"]
