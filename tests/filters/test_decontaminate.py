import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from filters.decontaminate import (
    BenchmarkSource,
    DecontamConfig,
    Decontaminate,
    build_index,
    kgram_hashes,
    load_benchmark,
    words,
)
from schemas.errors import DatasetError
from tests.flows.helpers import answer, stage_result

TEMPLATE = "Answer the following question and choose the correct option from the four choices given below."
SUBJECTS = [
    "pressure",
    "volume",
    "heat",
    "mass",
    "charge",
    "speed",
    "energy",
    "force",
    "light",
    "sound",
    "current",
    "friction",
]
QUESTIONS = [
    f"Question {i}: in an ideal closed system, what happens to the {s} of a sample when its temperature is "
    f"raised by exactly {i + 3} kelvin while everything else stays fixed?"
    for i, s in enumerate(SUBJECTS * 4)
]
LEAKED = 7  # the question a generated row copies


def rows(texts: list[str]) -> pa.Table:
    """SFT rows from the shared helper: instruction = text, response = helpers.answer(text)."""
    return stage_result(texts).rows


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def mmlu(tmp_path: Path) -> Path:
    records = [{"id": f"mmlu-{i}", "question": f"{TEMPLATE} {q}", "answer": "B"} for i, q in enumerate(QUESTIONS)]
    return write_jsonl(tmp_path / "mmlu_test.jsonl", records)


def decontaminate(*sources, **overrides) -> Decontaminate:
    return Decontaminate(config=DecontamConfig(sources=sources, **overrides))


def test_template_only_rows_are_kept_and_real_questions_rejected(mmlu):
    template_only = f"{TEMPLATE} Which planet in our solar system has the largest number of moons?"
    leaked = "Here is a physics puzzle for you. " + QUESTIONS[LEAKED].replace("?", " ?!").upper()
    table = rows([template_only, leaked, "Write a short poem about the sea."])
    result = decontaminate(mmlu)(table)
    s = result.stats
    assert (s.name, s.rows_in, s.rows_out, s.rejected) == ("decontaminate", 3, 2, 1)
    assert result.rows.column("instruction").to_pylist() == [template_only, "Write a short poem about the sea."]
    reject = result.rejects.to_pylist()[0]
    assert reject["reason"] == "benchmark_contamination"
    gram = " ".join(words(QUESTIONS[LEAKED])[:13])
    assert reject["detail"] == f"mmlu_test item mmlu-{LEAKED}: instruction shares 13 words '{gram}'"
    assert reject["raw_text"] == answer(leaked)
    assert json.loads(reject["record"])["instruction"] == leaked


def test_without_boilerplate_removal_the_template_would_flag(mmlu):
    template_only = rows([f"{TEMPLATE} Which planet has the most moons?"])
    assert decontaminate(mmlu, max_doc_freq=1000)(template_only).stats.rejected == 1
    index = decontaminate(mmlu).index
    assert index.boilerplate > 0
    assert decontaminate(mmlu, max_doc_freq=0.5)(template_only).stats.rejected == 0


def test_a_shared_ngram_in_two_items_of_a_large_benchmark_is_boilerplate(tmp_path):
    shared = "the quick brown fox jumps over the lazy dog near the river bank today"
    items = [{"question": f"{shared} item {i}"} if i < 2 else {"question": QUESTIONS[i]} for i in range(48)]
    path = write_jsonl(tmp_path / "b.jsonl", items)
    assert decontaminate(path, max_doc_freq=0.02)(rows([shared])).stats.rejected == 0  # 2 items > 48 * 2 %
    assert decontaminate(path, max_doc_freq=0.05)(rows([shared])).stats.rejected == 1  # 2 items <= 48 * 5 %
    assert decontaminate(path, max_doc_freq=1)(rows([shared])).stats.rejected == 0  # a count: 2 items > 1


def test_response_column_and_messages_column(tmp_path):
    bench = tmp_path / "gsm.txt"
    bench.write_text(QUESTIONS[0] + "\n\n" + QUESTIONS[1] + "\n", encoding="utf-8")
    table = rows(["harmless", "also harmless"])
    leaked = pa.array(["fine", "Sure! " + QUESTIONS[1]], pa.string())
    table = table.set_column(table.schema.get_field_index("response"), "response", leaked)
    result = decontaminate(bench)(table)
    assert result.rejects.column("detail").to_pylist()[0].startswith("gsm item line 3: response shares 13 words")
    msgs = decontaminate(bench, text_columns=("messages",))(rows(["x", QUESTIONS[0]]))
    assert msgs.rejects.column("detail").to_pylist()[0].startswith("gsm item line 1: messages shares")


def test_short_items_are_matched_whole(tmp_path):
    path = write_jsonl(
        tmp_path / "trivia.jsonl",
        [{"question": "Who painted the ceiling of the Sistine Chapel in Rome?"}, {"question": "Capital of France?"}],
    )
    result = decontaminate(path)(
        rows(["Tell me: who painted the ceiling of the sistine chapel in Rome", "capital of france"])
    )
    assert result.stats.rejected == 1
    assert result.rejects.column("detail")[0].as_py() == (
        "trivia item line 1: instruction shares 10 words 'who painted the ceiling of the sistine chapel in rome'"
    )
    assert (
        decontaminate(path, short_item_min_words=None)(
            rows(["who painted the ceiling of the sistine chapel in rome"])
        ).stats.rejected
        == 0
    )


def test_all_file_formats(tmp_path):
    q = QUESTIONS
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"task_id": "A/0", "prompt": q[0], "solution": "x"}])
    array = tmp_path / "b.json"
    array.write_text(json.dumps([{"idx": 5, "problem": q[1], "choices": {"text": ["1", "2"], "label": ["A", "B"]}}]))
    pq.write_table(pa.table({"question": [q[2]], "answer": ["4"]}), tmp_path / "c.parquet")
    with (tmp_path / "d.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["input", "target"], [q[3], "y"]])
    (tmp_path / "e.txt").write_text(q[4] + "\n", encoding="utf-8")
    folder = tmp_path / "f"
    (folder / "test").mkdir(parents=True)
    pq.write_table(pa.table({"text": [q[5]]}), folder / "test" / "0.parquet")
    sources = [jsonl, array, tmp_path / "c.parquet", tmp_path / "d.csv", tmp_path / "e.txt", folder]
    result = decontaminate(*sources)(rows(q[:7]))
    assert result.rows.column("instruction").to_pylist() == [q[6]]
    details = result.rejects.column("detail").to_pylist()
    prefixes = [
        "a item A/0:",
        "b item 5:",
        "c item row 0:",
        "d item line 2:",
        "e item line 1:",
        "f item test/0.parquet row 0:",
    ]
    assert [d.split(" instruction")[0] for d in details] == prefixes


def test_hf_save_to_disk_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "hf_bench"
    split = datasets.Dataset.from_dict({"question": [QUESTIONS[8], QUESTIONS[9]], "answer": ["a", "b"]})
    datasets.DatasetDict({"test": split}).save_to_disk(str(folder))
    items = load_benchmark(BenchmarkSource(path=folder))
    assert [i.id for i in items] == ["test row 0", "test row 1"]
    result = decontaminate(BenchmarkSource(path=folder, name="physics"))(rows([QUESTIONS[9]]))
    assert result.rejects.column("detail")[0].as_py().startswith("physics item test row 1: instruction shares 13")


def test_source_options_text_fields_and_id_field(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"key": "k1", "body": QUESTIONS[0], "question": "unrelated"}])
    source = BenchmarkSource(path=path, name="custom", text_fields=("body",), id_field="key")
    assert load_benchmark(source)[0].texts == (QUESTIONS[0],)
    result = decontaminate(source)(rows([QUESTIONS[0]]))
    assert result.rejects.column("detail")[0].as_py().startswith("custom item k1:")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", b'{"question": "ok"}\n{"question": broken\n', r"bad.jsonl, line 2: invalid JSON"),
        ("list.jsonl", b'{"question": "ok"}\n\n[1, 2]\n', r"list.jsonl, line 3: expected a JSON object, got list"),
        ("bin.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"bin.jsonl looks binary"),
        ("latin.txt", b"fine line\ncaf\xe9 au lait\n", r"latin.txt, line 2: not UTF-8"),
        ("fields.jsonl", b'{"question": "ok"}\n{"body": "x"}\n', r"fields.jsonl, line 2: none of the text fields"),
        ("bad.parquet", b"PAR1 not really parquet", r"bad.parquet: not a readable parquet file"),
        ("empty.txt", b"\n\n", r"empty.txt has no items"),
        ("data.xlsx", b"PK", r"data.xlsx: unsupported type '.xlsx'"),
        ("bad.json", b'[{"question": "a"},\n {"question": }]', r"bad.json, line 2: invalid JSON"),
    ],
)
def test_bad_benchmark_files_name_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as err:
        build_index(DecontamConfig(sources=(path,)))
    assert str(path) in str(err.value)


def test_missing_file_and_folder_without_data(tmp_path):
    with pytest.raises(DatasetError, match=r"benchmark file not found: .*nope\.jsonl"):
        decontaminate(tmp_path / "nope.jsonl")(rows(["x"]))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DatasetError, match="empty_dir has no parquet files"):
        build_index(DecontamConfig(sources=(tmp_path / "empty_dir",)))


def test_config_validation(tmp_path):
    with pytest.raises(ValidationError, match="two benchmarks named 'test'"):
        DecontamConfig(sources=(tmp_path / "a" / "test.jsonl", tmp_path / "b" / "test.jsonl"))
    with pytest.raises(ValidationError):
        DecontamConfig(ngram=2)
    cfg = DecontamConfig(sources=str(tmp_path / "one.jsonl"))
    assert cfg.sources[0].benchmark == "one"


def test_empty_table_no_sources_and_missing_column(mmlu):
    empty = rows([])
    result = decontaminate(mmlu)(empty)
    assert (result.stats.rows_in, result.stats.rows_out, result.stats.rejected) == (0, 0, 0)
    assert result.rows.schema == empty.schema
    table = rows([QUESTIONS[0]])
    assert Decontaminate()(table).stats.rejected == 0
    with pytest.raises(DatasetError, match="no 'prompt' column"):
        decontaminate(mmlu, text_columns=("prompt",))(table)


def test_index_is_built_once_and_hashes_are_stable(mmlu):
    stage = decontaminate(mmlu)
    assert stage.index is stage.index
    again = build_index(DecontamConfig(sources=(mmlu,)))
    assert np.array_equal(stage.index.hashes, again.hashes)
    assert np.all(np.diff(again.hashes.astype(np.float64)) >= 0)
    w = np.array([1, 2, 3, 4], dtype=np.uint64)
    assert kgram_hashes(w, 3).tolist() == kgram_hashes(w.copy(), 3).tolist() and len(kgram_hashes(w, 5)) == 0
    assert kgram_hashes(w, 2)[0] != kgram_hashes(w[::-1].copy(), 2)[-1]  # order matters
    assert words("Don't STOP—believing!") == ["don", "t", "stop", "believing"]


def test_rows_in_small_batches_get_the_same_verdicts(mmlu, monkeypatch):
    import filters.decontaminate as module

    texts = [f"Row {i}: " + (QUESTIONS[i % len(QUESTIONS)] if i % 3 == 0 else "Write a poem.") for i in range(11)]
    table = rows(texts)
    whole = decontaminate(mmlu)(table)
    monkeypatch.setattr(module, "BATCH_ROWS", 2)
    batched = decontaminate(mmlu)(table)
    assert batched.stats.rejected == whole.stats.rejected == 4
    assert batched.rejects.select(["detail", "raw_text"]).equals(whole.rejects.select(["detail", "raw_text"]))
    assert batched.rows.equals(whole.rows)
