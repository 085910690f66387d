"""from-text and persona commands through the CLI: each a one-source pipeline on the run core (a real
Prefect flow), scripted engine."""

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flows.run.core
from flows.cli import app
from flows.store import DatasetStore
from tests.fakes import ScriptedEngine

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

runner = CliRunner()
CORPUS = Path(__file__).resolve().parents[2] / "data" / "seeds" / "corpus"


def scripted_engine() -> ScriptedEngine:
    engine: ScriptedEngine

    def on_chat(messages, sp):
        text = messages[-1]["content"]
        schema = engine.json_schemas[-1] or {}
        if "pairs" in schema.get("properties", {}):
            passage = text.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
            sentence = re.split(r"(?<=\.)\s", passage.strip().splitlines()[-1])[0]
            return json.dumps(
                {
                    "pairs": [
                        {"task": "factual_qa", "question": f"What does this say: {sentence[:40]}?", "answer": sentence}
                    ]
                }
            )
        if "persona" in schema.get("properties", {}):
            return json.dumps({"persona": f"A curious reader number {len(engine.calls)} who studies coastal maps."})
        if "Reply A" in text:
            return "{}"
        return "Write a short guide to reading tide tables for small boat owners?"

    engine = ScriptedEngine(lambda p, sp: "", on_chat)
    return engine


@pytest.fixture
def engine(monkeypatch):
    e = scripted_engine()
    monkeypatch.setattr(flows.run.core, "make_engine", lambda cfg: e)
    return e


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_from_text_publishes_sft_and_augmented_corpus_and_records_bad_files(tmp_path, engine):
    docs = tmp_path / "docs"
    shutil.copytree(CORPUS, docs)
    (docs / "blob.txt").write_bytes(b"\x00\x01binary" * 50)
    (docs / "empty.md").write_text("")
    res = invoke("generate", "from-text", str(docs), "--dataset", "docs_qa", "--data-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    store = DatasetStore(tmp_path / "datasets")
    sft, corpus = store.get("docs_qa"), store.get("docs_qa_corpus")
    m = sft.manifest()
    assert [s.name for s in m.stages] == ["from_text:read", "from_text", "merge"]
    assert m.stages[0].rows_in == 10 and m.stages[0].rejected == 2
    reasons = set(sft.read("rejects").column("reason").to_pylist())
    assert {"binary", "empty"} <= reasons
    assert sft.read().num_rows > 0 and corpus.read().num_rows >= 8
    assert corpus.manifest().parent_versions == [sft.ref]
    assert all(row["parent_ids"] for row in sft.read().to_pylist())


def test_from_text_with_nothing_usable_fails_clearly(tmp_path, engine):
    (tmp_path / "blob.txt").write_bytes(b"\x00" * 64)
    res = invoke("generate", "from-text", str(tmp_path / "blob.txt"), "--dataset", "x", "--data-dir", str(tmp_path))
    assert res.exit_code == 2 and "blob.txt" in res.output
    assert not (tmp_path / "datasets").exists()


def test_personas_build_expand_and_tasks(tmp_path, engine):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        "\n".join(
            json.dumps({"persona": p})
            for p in [
                "A retired ferry captain in Bergen who keeps a diary of storms.",
                "A first-year nursing student in Lagos who studies on night buses.",
            ]
        )
        + "\n"
    )
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"personas:\n  seed_file: {seeds}\n  expand_per_persona: 1\n")
    d = str(tmp_path)
    res = invoke("personas", "from-text", str(CORPUS / "tides.md"), "--out", "people", "-c", str(cfg), "--data-dir", d)
    assert res.exit_code == 0, res.output
    store = DatasetStore(tmp_path / "datasets")
    people = store.get("people").read()
    assert {"seed", "from_text"} <= set(people.column("origin").to_pylist())
    res = invoke("personas", "expand", "people@v1", "--out", "people_wide", "-c", str(cfg), "--data-dir", d)
    assert res.exit_code == 0, res.output
    assert store.get("people_wide").manifest().parent_versions == ["people@v1"]
    res = invoke(
        "generate", "personas", "--personas", "people", "--dataset", "persona_sft", "-c", str(cfg), "--data-dir", d
    )
    assert res.exit_code == 0, res.output
    sft = store.get("persona_sft").read().to_pylist()
    assert sft and all(r["parent_ids"] and r["template_name"].startswith("persona_") for r in sft)
