"""Results without a model: metric rows, the evals files and view, compare, the card section, judge notes."""

from pathlib import Path

import pytest

from flows.catalog import query
from flows.eval_config import EvalConfig
from flows.evals.compare import compare
from flows.evals.judging import judge_note
from flows.evals.runner import Scores, item_rows, metric_rows, train_note
from flows.evals.suite import load_suite
from flows.report import write_card
from flows.store import DatasetStore
from flows.store.evals import eval_files, latest_eval, write_eval
from flows.train import TrainingRecord
from schemas.rows import utc_now
from tests.flows.store.test_datasets import publish

REPO = Path(__file__).parents[3]
SUITE = load_suite(size=6)


def record(steps: int = 3) -> TrainingRecord:
    fields = dict(id="t1", dataset="demo@v1", dataset_name="demo", dataset_version=1, dataset_run_id="r", run_id="e")
    return TrainingRecord(
        **fields,
        model="embedded",
        model_path="/m",
        checkpoint="/c",
        steps=steps,
        final_loss=1.5,
        mean_loss=1.7,
        train_rows=6,
        seconds=4.0,
        created_at=utc_now(),
        trainer="trl x",
        libraries={},
        config={"max_steps": steps},
    )


def scores(nll: float, passed: float) -> Scores:
    n, k = len(SUITE.ref), len(SUITE.instruct)
    margin = [1.0 - nll + 0.01 * i for i in range(n)]
    return Scores([nll + 0.01 * i for i in range(n)], [passed] * k, ["out"] * k, margin=margin, clean=[passed] * k)


def save_eval(root: Path, ref: str, eval_id: str, tuned_nll: float) -> None:
    name, number = ref.split("@v")
    context = dict(eval_id=eval_id, dataset=ref, dataset_name=name, version=int(number), base="embedded")
    context |= dict(suite=SUITE.name, suite_hash=SUITE.hash, train_config="{}", training_id="t1", train_rows=6)
    base, tuned = scores(2.0, 0.0), scores(tuned_nll, 1.0)
    metrics = metric_rows({**context, "created_at": utc_now()}, base, tuned, record(), "not measured: x", 200)
    write_eval(root, name, eval_id, metrics, item_rows(eval_id, SUITE, base, tuned))


def test_metric_rows_the_evals_view_and_compare(tmp_path):
    store = DatasetStore(tmp_path)
    publish(store, "demo", ["a?"])
    publish(store, "demo", ["b?"])
    save_eval(tmp_path, "demo@v1", "e1", tuned_nll=1.8)
    save_eval(tmp_path, "demo@v2", "e2", tuned_nll=1.5)
    assert [p.name for p in eval_files(tmp_path)] == ["e1.parquet", "e2.parquet"]

    sql = "SELECT model, value, ci_low, ci_high FROM evals WHERE dataset = 'demo@v2' AND metric = 'ref_nll'"
    got = {m: (v, lo, hi) for m, v, lo, hi in query(tmp_path, sql).fetchall()}
    assert got["delta"][0] == pytest.approx(-0.5) and got["delta"][1] == pytest.approx(-0.5)  # same shift per item
    assert got["base"][1] < got["base"][0] < got["base"][2]
    sql = "SELECT metric, value FROM evals WHERE dataset = 'demo@v2' AND model = 'delta' ORDER BY metric"
    deltas = dict(query(tmp_path, sql).fetchall())
    assert deltas["ref_margin"] == pytest.approx(0.5) and deltas["clean_rate"] == 1.0 and deltas["if_pass"] == 1.0
    sql = "SELECT metric, model, value, note FROM evals WHERE eval_id = 'e2' AND value IS NULL"
    assert query(tmp_path, sql).fetchall() == [("judge_winrate", "tuned", None, "not measured: x")]
    sql = "SELECT value, n, seconds FROM evals WHERE eval_id = 'e2' AND metric = 'train_loss'"
    assert query(tmp_path, sql).fetchall() == [(1.5, 3, 4.0)]

    assert latest_eval(tmp_path, "demo@v1").column("eval_id")[0].as_py() == "e1"
    assert latest_eval(tmp_path, "demo@v1", suite_hash="other") is None
    (nll, margin, passed, clean) = compare(tmp_path, "demo@v1", "demo@v2")
    assert nll.metric == "ref_nll" and nll.delta.value == pytest.approx(-0.3) and nll.delta.n == len(SUITE.ref)
    assert margin.metric == "ref_margin" and margin.delta.value == pytest.approx(0.3)
    assert passed.delta.value == 0.0 and clean.metric == "clean_rate" and clean.delta.value == 0.0
    with pytest.raises(LookupError, match="no eval of demo@v3"):
        compare(tmp_path, "demo@v1", "demo@v3")


def test_the_card_says_what_a_version_teaches(tmp_path):
    store = DatasetStore(tmp_path)
    v1 = publish(store, "demo", ["a?"])
    card = write_card(v1).read_text()
    assert "## What it teaches" in card and "Not measured yet: `synthloom eval demo@v1`" in card
    save_eval(tmp_path, "demo@v1", "e1abcdef99", tuned_nll=1.8)
    card = write_card(v1).read_text()
    assert "`synthloom eval` fine-tuned `embedded` on this version (LoRA, 3 steps on 6 rows)" in card
    assert "e1abcdef" in card
    assert "| ref_nll | 2.025 [" in card and "judge_winrate: not measured: x." in card
    assert (v1.path / "card" / "teaches.png").stat().st_size > 1000


def test_judge_notes_say_why_the_win_rate_is_missing(tmp_path):
    assert "no judge configured" in judge_note(tmp_path, None)
    note = judge_note(tmp_path, REPO / "data" / "pipelines" / "demo.yaml")
    assert note.startswith("not measured: the judge is not calibrated yet") and "judge calibrate --config" in note


def test_eval_config_turns_epochs_into_steps():
    assert EvalConfig(epochs=2, batch_size=4).train_config(rows=10).max_steps == 5
    assert EvalConfig(epochs=1).train_config(rows=10_000).max_steps == 24  # at most max_rows=96 rows
    cfg = EvalConfig(steps=7).train_config(rows=10)
    assert cfg.max_steps == 7 and cfg.lora is not None and cfg.max_rows == 96


def test_the_train_note_says_when_the_rows_were_a_sample_of_the_version():
    assert train_note(record(), 6) == "3 steps on 6 rows"
    assert train_note(record(), None) == "3 steps on 6 rows"
    assert train_note(record(), 500) == "3 steps on a seeded sample of 6 of the version's 500 rows (max_rows)"


def test_auto_threads_leave_the_cores_other_jobs_use():
    from flows.evals.runner import thread_count

    assert thread_count("auto", cores=2, load=0.1) == 2  # an idle machine: both cores
    assert thread_count("auto", cores=2, load=0.8) == 2  # the tail of a job that ended
    assert thread_count("auto", cores=2, load=1.2) == 1  # one busy core: one thread
    assert thread_count("auto", cores=2, load=7.5) == 1  # never fewer than one
    assert thread_count("auto", cores=16, load=3.4) == 13 and thread_count("auto", cores=2, load=1.9) == 1
    assert thread_count(3) == 3 and thread_count(None) is None
    assert EvalConfig().cpu_threads == "auto" and EvalConfig(cpu_threads=1).cpu_threads == 1
    with pytest.raises(ValueError):
        EvalConfig(cpu_threads=0)
