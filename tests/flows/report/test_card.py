import logging

import pyarrow as pa
import pytest

import flows.report.card
from flows.report import card_path, write_card
from flows.store import DatasetStore
from flows.store.publish import publish_version
from schemas.manifest import StageStats
from schemas.result import Reject, rejects_table
from schemas.rows import DPO_SCHEMA, utc_now
from tests.flows.helpers import LINEAGE, manifest, stage_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LONG = "why " + "x" * 400 + "?"


def heuristics_rejects(n: int) -> pa.Table:
    lineage = {**LINEAGE, "created_at": utc_now()}
    return rejects_table([Reject("too_short", "d", f"short{i}").to_row("heuristics", i, {}, lineage) for i in range(n)])


def publish_sft(store: DatasetStore, texts: list[str], judged: bool = False):
    """magpie (texts + 1 reject) -> heuristics (drops 2 more, from rows not shown here)."""
    result = stage_result(texts, rejected=1)
    rows = result.rows
    if judged:
        n = rows.num_rows
        rows = rows.append_column("judge_quality", pa.array([(i % 5) + 1 for i in range(n)], pa.int64()))
        rows = rows.append_column("judge_category", pa.array(["math", "coding", "math"][:n], pa.string()))
    magpie = result.stats.model_copy(update={"rows_in": len(texts) + 3, "rows_out": len(texts) + 2})
    heur = StageStats(name="heuristics", rows_in=len(texts) + 2, rows_out=len(texts), rejected=2, seconds=1.5)
    return publish_version(
        store,
        "demo",
        rows,
        [result.rejects, heuristics_rejects(2)],
        [magpie, heur],
        {"k": 1},
        "run-7",
        ["src@v1"],
        card=write_card,
    )


def card_files(version) -> set[str]:
    return {p.name for p in (version.path / "card").iterdir()}


def test_publish_writes_card_with_stages_reasons_and_plots(tmp_path):
    v = publish_sft(DatasetStore(tmp_path), ["b pipe | here\nnewline?", "a?", LONG])
    readme = card_path(v)
    assert readme == v.path / "card" / "README.md"
    assert card_files(v) == {"README.md", "rejects.png", "lengths.png"}
    for png in (v.path / "card").glob("*.png"):
        assert png.read_bytes().startswith(PNG_MAGIC)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# demo v1\n")
    assert "| magpie | 6 | 5 | 1 |" in text and "| heuristics | 5 | 3 | 2 | 1.5 |" in text
    assert "| heuristics | too_short | 2 |" in text and "| magpie | instruction_empty | 1 |" in text
    assert "| run_id | run-7 |" in text and "| parent versions | src@v1 |" in text and "| rows | 3 |" in text
    assert "](rejects.png)" in text and "](lengths.png)" in text
    assert "x" * 290 + "…" in text and "x" * 301 not in text
    assert str(v.path / "rows" / "*.parquet") in text and 'SELECT * FROM demo LIMIT 5"' in text


def test_samples_are_first_by_id(tmp_path):
    v = publish_sft(DatasetStore(tmp_path), [f"q{i}?" for i in range(6)])
    text = card_path(v).read_text(encoding="utf-8")
    ids = sorted(v.read().column("id").to_pylist())
    shown = [line for line in text.splitlines() if line.startswith("#### Sample")]
    assert shown == [f"#### Sample {i} (`{ids[i - 1]}`)" for i in (1, 2, 3)]


def test_judge_scores_and_categories_get_plots(tmp_path):
    v = publish_sft(DatasetStore(tmp_path), ["a?", "b?", "c?"], judged=True)
    assert {"judge_scores.png", "categories.png"} <= card_files(v)
    text = card_path(v).read_text(encoding="utf-8")
    assert "](judge_scores.png)" in text and "](categories.png)" in text and "**judge_category**: math" in text


@pytest.mark.parametrize("rejected", [0, 2])
def test_zero_row_version(tmp_path, rejected):
    result = stage_result([], rejected=rejected)
    v = publish_version(
        DatasetStore(tmp_path), "empty", result.rows, [result.rejects], [result.stats], {}, "r", card=write_card
    )
    text = card_path(v).read_text(encoding="utf-8")
    assert "This version has no rows." in text and "Sample" not in text
    assert card_files(v) == ({"README.md", "rejects.png"} if rejected else {"README.md"})
    assert ("No rejects." in text) == (not rejected)


def _dpo() -> pa.Table:
    row = {"id": "p1", "prompt": "pick?", "chosen": "good", "rejected": "bad", "judge_model": "m", "judge_raw": "A|B"}
    return pa.Table.from_pylist([{**row, **LINEAGE, "seed": 0, "created_at": utc_now()}], schema=DPO_SCHEMA)


@pytest.mark.parametrize(
    "rows, shown",
    [
        (_dpo(), "good"),
        (pa.table({"id": ["p2", "p1"], "persona": ["a chef", "a pilot"], "origin": ["seed", "seed"]}), "a pilot"),
        (pa.table({"id": ["c1"], "text": ["chunk ``` with fence"], "n_pairs": [1]}), "chunk ``` with fence"),
    ],
    ids=["dpo", "personas", "corpus"],
)
def test_other_table_shapes(tmp_path, rows, shown):
    stats = StageStats(name="s", rows_in=rows.num_rows, rows_out=rows.num_rows, rejected=0)
    v = publish_version(DatasetStore(tmp_path), "shape", rows, [], [stats], {}, "r", card=write_card)
    text = card_path(v).read_text(encoding="utf-8")
    assert card_files(v) == {"README.md", "lengths.png"}
    assert shown in text and "Sample 1" in text


def test_regeneration_is_idempotent_and_leaves_no_temp_dirs(tmp_path):
    v = publish_sft(DatasetStore(tmp_path), ["a?", "b?"], judged=True)
    before = {p.name: p.read_bytes() for p in (v.path / "card").iterdir()}
    assert write_card(v) == card_path(v)
    assert {p.name: p.read_bytes() for p in (v.path / "card").iterdir()} == before
    assert sorted(p.name for p in v.path.iterdir()) == ["card", "manifest.json", "rejects", "rows"]
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def test_crash_while_rendering_keeps_the_old_card(tmp_path, monkeypatch):
    v = publish_sft(DatasetStore(tmp_path), ["a?"])
    before = card_path(v).read_bytes()

    def boom(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(flows.report.card, "_render", boom)
    with pytest.raises(RuntimeError):
        write_card(v)
    assert card_path(v).read_bytes() == before
    assert sorted(p.name for p in v.path.iterdir()) == ["card", "manifest.json", "rejects", "rows"]


def test_card_failure_does_not_fail_publish(tmp_path, caplog):
    def boom(version):
        raise RuntimeError("no fonts")

    result = stage_result(["a?"])
    store = DatasetStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="flows.store.publish"):
        v = publish_version(store, "demo", result.rows, [result.rejects], [result.stats], {}, "r", card=boom)
    assert v.ref == "demo@v1" and store.get("demo").read().num_rows == 1
    assert card_path(v) is None
    assert "demo@v1" in caplog.text and "no fonts" in caplog.text


def test_card_path_is_none_without_card(tmp_path):
    result = stage_result(["a?"])
    v = DatasetStore(tmp_path).publish("demo", {"rows": result.rows, "rejects": result.rejects}, manifest(result))
    assert card_path(v) is None
    assert write_card(v) == card_path(v)
