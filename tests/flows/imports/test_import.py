"""`synthloom import` on files written here, in every format and shape it takes: rows + rejects add
up to the input, lineage points at the right file and row, a second import is "already published",
bad input is a reject with its raw record (never a crash, never a silent drop), and the imported
version is read by DuckDB, HF datasets and `synthloom dedup` like any other."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.imports.mapping import Mapping
from flows.imports.run import import_files
from flows.store import DatasetStore
from schemas.errors import ConfigError, DatasetError
from tests.flows.run.test_core import answer, instruction

runner = CliRunner()


def pairs(n: int, a: str = "instruction", b: str = "response") -> list[dict]:
    return [{a: f"How do I do task number {i} well?", b: f"Do step one, then step two, for task {i}.", "tag": i % 3}
            for i in range(n)]  # fmt: skip


def write_jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def store(tmp_path) -> DatasetStore:
    return DatasetStore(tmp_path / "data" / "datasets")


def rows_and_rejects(version) -> tuple[list[dict], list[dict]]:
    return version.read().to_pylist(), version.read("rejects").to_pylist()


@pytest.mark.parametrize(
    ("name", "user", "assistant"),
    [
        ("a", "instruction", "response"),
        ("b", "prompt", "completion"),
        ("c", "question", "answer"),
        ("d", "input", "output"),
    ],
)
def test_well_known_column_pairs(tmp_path, name, user, assistant):
    write_jsonl(tmp_path / "x.jsonl", pairs(5, user, assistant))
    result = import_files(store(tmp_path), [str(tmp_path / "x.jsonl")], name, Mapping())
    rows, rejects = rows_and_rejects(result.version)
    assert len(rows) == 5 and not rejects
    assert rows[2]["instruction"] == "How do I do task number 2 well?" and rows[2]["source_row"] == 2
    assert rows[2]["tag"] == 2 and rows[2]["source_file"] == str((tmp_path / "x.jsonl").resolve())
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]


def test_input_output_with_an_instruction_column(tmp_path):
    write_jsonl(tmp_path / "x.jsonl", [{"instruction": "Translate to French.", "input": "cat", "output": "chat"}])
    (row,) = import_files(store(tmp_path), [str(tmp_path / "x.jsonl")], "t", Mapping()).version.read().to_pylist()
    assert row["instruction"] == "Translate to French.\n\ncat" and row["response"] == "chat"


def test_sharegpt_and_openai_messages_multi_turn(tmp_path):
    turns = [("system", "Be brief."), ("human", "Hi?"), ("gpt", "Hello."), ("human", "Bye?"), ("gpt", "Bye.")]
    share = [{"conversations": [{"from": f, "value": v} for f, v in turns]}]
    openai = [{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], "model": "x"}]
    write_jsonl(tmp_path / "share.jsonl", share)
    (tmp_path / "oa.json").write_text(json.dumps(openai))  # a JSON array file
    result = import_files(store(tmp_path), [str(tmp_path / "share.jsonl"), str(tmp_path / "oa.json")], "m", Mapping())
    rows = {r["instruction"]: r for r in result.version.read().to_pylist()}
    assert [m["role"] for m in rows["Hi?"]["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert rows["Hi?"]["response"] == "Hello." and rows["2+2?"]["response"] == "4"
    assert rows["2+2?"]["model"] == "x" and rows["2+2?"]["source_file"].endswith("oa.json")


def test_parquet_csv_and_save_to_disk_folder(tmp_path):
    import datasets

    pq.write_table(pa.Table.from_pylist(pairs(4, "question", "answer")), tmp_path / "q.parquet")
    with open(tmp_path / "p.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["prompt", "completion"])
        w.writeheader()
        w.writerows({"prompt": f"Line one\nof prompt {i}", "completion": f"ok {i}"} for i in range(3))
    datasets.Dataset.from_list(pairs(3, "instruction", "output")).save_to_disk(str(tmp_path / "hf"))
    # instruction + output: not a known pair, so --map says which columns are which
    result = import_files(
        store(tmp_path), [str(tmp_path / "hf")], "h", Mapping.parse("instruction=instruction,response=output")
    )
    assert result.version.manifest().rows == 3
    result = import_files(store(tmp_path), [str(tmp_path / "q.parquet"), str(tmp_path / "p.csv")], "pc", Mapping())
    rows, _ = rows_and_rejects(result.version)
    assert len(rows) == 7
    csv_rows = [r for r in rows if r["source_file"].endswith("p.csv")]
    assert csv_rows[1]["instruction"] == "Line one\nof prompt 1" and csv_rows[1]["source_row"] == 3  # its first line


def test_mixed_good_and_bad_file_loses_nothing(tmp_path):
    good = [json.dumps(r) for r in pairs(4)]
    lines = [
        good[0].encode(),
        b'{"instruction": "broken json", ',  # bad_json
        '{"instruction": "caf\xe9"}'.encode("latin-1"),  # not_utf8
        b"[1, 2, 3]",  # not_an_object
        json.dumps({"title": "no conversation here"}).encode(),  # no_text
        json.dumps({"instruction": "Only a question?", "response": ""}).encode(),  # no_text: empty answer
        json.dumps({"instruction": "big " * 400, "response": "x"}).encode(),  # too_large
        good[1].encode(),
        good[0].encode(),  # duplicate
        b"",
        good[2].encode(),
    ]
    (tmp_path / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = import_files(store(tmp_path), [str(tmp_path / "mixed.jsonl")], "mixed", Mapping(), max_row_bytes=1000)
    rows, rejects = rows_and_rejects(result.version)
    assert len(rows) == 3 and result.files[0]["rows"] == 10 == len(rows) + len(rejects)  # the empty line is no record
    reasons = sorted(r["reason"] for r in rejects)
    assert reasons == ["bad_json", "duplicate", "no_text", "no_text", "not_an_object", "not_utf8", "too_large"]
    bad = next(r for r in rejects if r["reason"] == "bad_json")
    assert bad["raw_text"].startswith('{"instruction": "broken json"') and json.loads(bad["record"])["source_row"] == 1
    assert "mixed.jsonl" in bad["detail"] and "line 2" in bad["detail"]
    dup = next(r for r in rejects if r["reason"] == "duplicate")
    assert "mixed.jsonl:0" in dup["detail"]
    m = result.version.manifest()
    assert m.rows + m.rejects == 10 and m.config["files"][0]["sha256"]


def test_reimport_is_already_published_and_cli_lines(tmp_path):
    write_jsonl(tmp_path / "x.jsonl", pairs(6))
    args = ["import", str(tmp_path / "x.jsonl"), "--dataset", "mine", "--data-dir", str(tmp_path / "data")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and "published mine@v1: 6 rows, 0 rejects" in first.output, first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already published" in again.output and "mine@v1" in again.output
    assert [v.ref for v in store(tmp_path).versions("mine")] == ["mine@v1"]


def test_file_with_no_usable_row_is_one_line_error(tmp_path):
    write_jsonl(tmp_path / "junk.jsonl", [{"a": 1}, {"b": 2}])
    res = runner.invoke(app, ["import", str(tmp_path / "junk.jsonl"), "-d", "j", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2 and "junk.jsonl: no usable row (2 no_text)" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "d" / "datasets" / "j" / "v1").exists()
    res = runner.invoke(app, ["import", str(tmp_path / "nothing*.jsonl"), "-d", "j", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2 and "nothing*.jsonl: no such file" in res.output


def test_binary_and_corrupt_files(tmp_path):
    (tmp_path / "bin.parquet").write_bytes(b"\x00\x01garbage" * 100)
    write_jsonl(tmp_path / "ok.jsonl", pairs(2))
    with pytest.raises(DatasetError, match="bin.parquet: no usable row \\(1 unreadable_file\\)"):
        import_files(store(tmp_path), [str(tmp_path / "ok.jsonl"), str(tmp_path / "bin.parquet")], "b", Mapping())
    (tmp_path / "blob.jsonl").write_bytes(bytes(range(256)) * 40)
    with pytest.raises(DatasetError, match="blob.jsonl: no usable row"):
        import_files(store(tmp_path), [str(tmp_path / "blob.jsonl")], "b", Mapping())


def test_map_errors_name_the_bad_item():
    with pytest.raises(ConfigError, match="unknown target 'answer'"):
        Mapping.parse("answer=response")
    with pytest.raises(ConfigError, match="TARGET=COLUMN"):
        Mapping.parse("response")


def test_mixed_types_in_an_extra_column_kept_as_json_text(tmp_path):
    recs = pairs(3)
    recs[0]["meta"], recs[1]["meta"], recs[2]["meta"] = 1, "two", {"three": 3}
    write_jsonl(tmp_path / "x.jsonl", recs)
    rows = import_files(store(tmp_path), [str(tmp_path / "x.jsonl")], "t", Mapping()).version.read().to_pylist()
    assert [r["meta"] for r in rows] == ["1", '"two"', '{"three": 3}']


def test_imported_version_is_read_by_duckdb_and_hf_datasets(tmp_path):
    import datasets

    write_jsonl(tmp_path / "x.jsonl", pairs(5))
    v = import_files(store(tmp_path), [str(tmp_path / "x.jsonl")], "imp", Mapping()).version
    q = runner.invoke(
        app, ["query", "SELECT count(*) AS n FROM imp", "--format", "json", "--data-dir", str(tmp_path / "data")]
    )
    assert q.exit_code == 0 and json.loads(q.output.splitlines()[0])["n"] == 5, q.output
    ds = datasets.load_dataset("parquet", data_files=str(v.path / "rows" / "*.parquet"), split="train")
    assert ds.num_rows == 5 and "source_row" in ds.column_names


@pytest.mark.flow
def test_dedup_finds_the_near_duplicates_planted_in_an_import(tmp_path):
    recs = [{"instruction": instruction(i), "response": answer(instruction(i))} for i in range(8)]
    recs.append({"instruction": recs[3]["instruction"] + " ", "response": recs[3]["response"] + "!"})
    recs.append({"instruction": recs[5]["instruction"].lower(), "response": recs[5]["response"]})
    write_jsonl(tmp_path / "x.jsonl", recs)
    d = str(tmp_path / "data")
    assert runner.invoke(app, ["import", str(tmp_path / "x.jsonl"), "-d", "raw", "--data-dir", d]).exit_code == 0
    res = runner.invoke(app, ["dedup", "raw", "--out", "clean", "--data-dir", d])
    assert res.exit_code == 0, res.output
    v = store(tmp_path).get("clean")
    assert v.manifest().rows == 8 and v.manifest().parent_versions == ["raw@v1"]
    dropped = v.read("rejects").to_pylist()
    assert len(dropped) == 2 and {r["reason"] for r in dropped} <= {"near_duplicate", "exact_duplicate"}
    # a second import, sharing two conversations with the first, deduplicated into the same dataset:
    # dropped against the earlier version, and both versions queried together
    new_q = "Which came first, the lighthouse keeper's log or the harbour master's ledger?"
    more = [*recs[:2], {"instruction": new_q, "response": "The ledger, by about a decade.", "extra": 1.5}]
    write_jsonl(tmp_path / "y.jsonl", more)
    assert runner.invoke(app, ["import", str(tmp_path / "y.jsonl"), "-d", "raw2", "--data-dir", d]).exit_code == 0
    res = runner.invoke(app, ["dedup", "raw2", "--out", "clean", "--data-dir", d])
    assert res.exit_code == 0, res.output
    assert store(tmp_path).get("clean@v2").manifest().rows == 1
    q = runner.invoke(app, ["query", "SELECT version, count(*) AS n FROM clean_all GROUP BY 1 ORDER BY 1",
                            "--format", "json", "--data-dir", d])  # fmt: skip
    assert q.exit_code == 0 and [json.loads(x)["n"] for x in q.output.splitlines()] == [8, 1], q.output
    # --against: dedup an import against a version of another dataset
    res = runner.invoke(app, ["dedup", "raw2", "--out", "fresh", "--against", "clean@v1", "--data-dir", d])
    assert res.exit_code == 0, res.output
    fresh = store(tmp_path).get("fresh")
    assert fresh.manifest().rows == 1 and fresh.read().column("instruction").to_pylist() == [new_q]
    res = runner.invoke(app, ["dedup", "raw2", "--out", "fresh2", "--against", "nosuch@v1", "--data-dir", d])
    assert res.exit_code == 2 and "nosuch" in res.output
