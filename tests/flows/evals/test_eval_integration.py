"""The one end-to-end eval on the embedded model, with a tiny config (few steps, few suite items, short
answers): train -> score base and tuned -> evals view + card section; and the direction check on a
constructed case: training on good pairs lowers ref_nll more than training on garbage pairs. The good
pairs are evaluated by a pipeline's `eval:` section (a real Prefect flow, after it publishes them),
the garbage ones by `synthloom eval`; a rerun of the pipeline does not evaluate again."""

import json
import random

import pytest
from typer.testing import CliRunner

from flows.catalog import query
from flows.cli import app
from flows.evals.suite import load_suite
from flows.imports.mapping import Mapping
from flows.imports.run import import_files
from flows.pipeline import pipeline_flow
from flows.run.config import PipelineConfig
from flows.store import DatasetStore
from schemas.config import parse_config

SIZE = 4
TINY = dict(suite_size=SIZE, steps=4, batch_size=2, learning_rate=1e-3, max_length=256, max_new_tokens=12)


def publish_pairs(store: DatasetStore, name: str, pairs: list[tuple[str, str]], tmp_path) -> str:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"instruction": i, "response": r}) + "\n" for i, r in pairs))
    return import_files(store, [str(path)], name, Mapping.parse(None)).version.ref


def garbage(text: str, rng: random.Random) -> str:
    words = text.split()
    rng.shuffle(words)
    return " ".join(w[::-1] for w in words)


def eval_in_a_pipeline(root, source: str, eval_cfg: dict) -> tuple[str, str]:
    """Republish `source` through a pipeline whose `eval:` runs after publish: (its ref, the eval line)."""
    config = {
        "dataset": "good_run",
        "sources": [{"kind": "dataset", "ref": source}],
        "heuristics": None,
        "decontaminate": {"eval_suite": False},  # these rows ARE the suite's answers: the constructed case
        "eval": eval_cfg,
    }
    cfg = parse_config(PipelineConfig, config, "test")
    summary = pipeline_flow(cfg.model_dump(mode="json"), str(root), "")
    again = pipeline_flow(cfg.model_dump(mode="json"), str(root), "")
    assert again["already_published"] and "evaluated before" in again["eval"]
    return summary["versions"][0], summary["eval"]


@pytest.mark.integration
@pytest.mark.flow
def test_eval_end_to_end_and_good_pairs_teach_more_than_garbage(tmp_path, embedded_dir):
    root = tmp_path / "datasets"
    store = DatasetStore(root)
    suite = load_suite(size=SIZE)
    rng = random.Random(0)
    good = [(i.instruction, i.reference) for i in suite.ref]  # the constructed case: the suite's own answers
    bad = [(i, garbage(r, rng)) for i, r in good]
    bad_ref = publish_pairs(store, "bad", bad, tmp_path)
    good_ref, line = eval_in_a_pipeline(
        root, publish_pairs(store, "good", good, tmp_path), {"base": str(embedded_dir), "device": "cpu", **TINY}
    )
    assert line.startswith("eval ") and f"of {good_ref}" in line and "ref_nll" in line
    first_id = line.split()[1]
    (tmp_path / "eval.yaml").write_text(json.dumps({"device": "cpu", **TINY}))
    cli = ["eval", bad_ref, "--base", str(embedded_dir), "-c", str(tmp_path / "eval.yaml"), "--data-dir", str(tmp_path)]
    res = CliRunner().invoke(app, cli)
    assert res.exit_code == 0, res.output
    assert "ref_nll" in res.output and "if_pass" in res.output and "judge_winrate: not measured" in res.output

    got = query(root, "SELECT dataset, model, value, ci_low, ci_high, n FROM evals WHERE metric = 'ref_nll'")
    by = {(d, m): (v, lo, hi, n) for d, m, v, lo, hi, n in got.fetchall()}
    assert set(by) == {(r, m) for r in (good_ref, bad_ref) for m in ("base", "tuned", "delta")}
    assert by[(good_ref, "base")] == by[(bad_ref, "base")]  # the base is scored once, then cached
    for v, lo, hi, n in by.values():
        assert lo <= v <= hi and n == SIZE
    good_delta, bad_delta = by[(good_ref, "delta")][0], by[(bad_ref, "delta")][0]
    assert good_delta < 0 and good_delta < bad_delta - 0.05, (good_delta, bad_delta)  # good pairs teach more

    metrics = {m for (m,) in query(root, "SELECT DISTINCT metric FROM evals").fetchall()}
    assert metrics == {"ref_nll", "ref_margin", "if_pass", "clean_rate", "judge_winrate", "train_loss"}
    row = query(root, "SELECT value, note, suite_hash, train_rows FROM evals WHERE metric = 'judge_winrate'")
    value, note, suite_hash, train_rows = row.fetchall()[0]
    assert value is None and note.startswith("not measured") and suite_hash == suite.hash and train_rows == SIZE
    card = (store.get(good_ref).path / "card" / "README.md").read_text()
    assert "## What it teaches" in card and "teaches.png" in card and first_id in card
    assert (store.get(good_ref).path / "card" / "teaches.png").is_file()

    res = CliRunner().invoke(app, ["eval", "compare", good_ref, bad_ref, "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "ref_nll" in res.output and "delta (B - A)" in res.output
