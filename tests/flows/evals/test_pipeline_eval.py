"""A pipeline's `eval:` section: after the flow publishes, it fine-tunes the embedded model on the
version (a tiny config) and scores it; the summary carries the deltas, the `evals` view the rows, and a
rerun (already published, already evaluated) does not evaluate again. A real Prefect flow whose only
source is an imported dataset, so no generation model runs."""

import json

import pytest

from flows.catalog import query
from flows.pipeline import pipeline_flow
from flows.run.config import PipelineConfig
from flows.store import DatasetStore
from schemas.config import parse_config
from tests.flows.evals.test_eval_integration import publish_pairs

pytestmark = [pytest.mark.integration, pytest.mark.flow]

PAIRS = [
    (f"Give one practical tip about {topic}.", f"A practical tip about {topic}: start small, then check the result.")
    for topic in ("gardening", "cooking rice", "saving money", "learning a language", "running", "writing emails")
]
TINY = {"suite_size": 2, "steps": 2, "batch_size": 2, "max_length": 128, "if_pass": False, "bootstrap": 100}


def test_eval_runs_after_publish_and_the_summary_has_the_deltas(tmp_path, embedded_dir):
    root = tmp_path / "datasets"
    source = publish_pairs(DatasetStore(root), "tips", PAIRS, tmp_path)
    config = {
        "dataset": "tips_clean",
        "sources": [{"kind": "dataset", "ref": source}],
        "heuristics": None,
        "eval": {"base": str(embedded_dir), "device": "cpu", **TINY},
    }
    cfg = parse_config(PipelineConfig, config, "test")
    summary = pipeline_flow(cfg.model_dump(mode="json"), str(root), "")
    (ref,) = summary["versions"]
    assert summary["eval"].startswith("eval ") and f"of {ref}" in summary["eval"] and "ref_nll" in summary["eval"]
    rows = query(root, "SELECT dataset, model, metric FROM evals").fetchall()
    assert (ref, "delta", "ref_nll") in rows, rows
    again = pipeline_flow(cfg.model_dump(mode="json"), str(root), "")
    assert again["already_published"] and "evaluated before" in again["eval"]
    assert len(query(root, "SELECT DISTINCT eval_id FROM evals").fetchall()) == 1
    json.dumps(again)  # the summary stays JSON (the CLI writes it with --summary-json)
