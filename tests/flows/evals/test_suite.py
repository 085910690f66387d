"""The shipped suite is well-formed, disjoint from every shipped training / calibration / seed file, and
in the decontamination stage's default benchmarks."""

import json
from pathlib import Path

import pyarrow as pa
import pytest

from filters.decontaminate import DecontamConfig, Decontaminate, build_index
from flows.evals.suite import KINDS, load_suite, suite_files
from schemas.errors import ConfigError

REPO = Path(__file__).parents[3]
SHIPPED_INPUTS = [
    REPO / "filters" / "data" / "judge_calibration.jsonl",
    *sorted((REPO / "data" / "seeds").rglob("*.*")),
    *sorted((REPO / "data" / "quality").glob("*.jsonl")),
    *sorted((REPO / "data" / "pipelines").glob("*.yaml")),
]


def test_the_suite_is_well_formed():
    suite = load_suite()
    assert len(suite.ref) >= 150 and len(suite.instruct) >= 100
    ids = [i.id for i in (*suite.ref, *suite.instruct)]
    assert len(ids) == len(set(ids))
    assert {i.kind for i in suite.ref} == set(KINDS)
    assert min(sum(i.kind == k for i in suite.ref) for k in KINDS) >= 20
    for item in suite.instruct:
        assert 1 <= len(item.constraints) <= 3
        for c in item.constraints:
            assert c.describe() in item.prompt, item.id  # the prompt states exactly what is checked
    texts = [i.instruction for i in suite.ref] + [i.prompt for i in suite.instruct]
    assert len(texts) == len(set(texts))
    for path in suite_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line)


def test_a_small_suite_mixes_kinds_and_has_its_own_hash():
    small = load_suite(size=7)
    assert [i.kind for i in small.ref] == list(KINDS) and len(small.instruct) == 7
    assert small.hash != load_suite().hash and small.hash == load_suite(size=7).hash
    with pytest.raises(ConfigError, match="unknown eval suite 'nope'.*core"):
        load_suite("nope")


def _texts(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".jsonl":
        return [" ".join(str(v) for v in json.loads(line).values()) for line in text.splitlines() if line.strip()]
    return [text]


def test_the_suite_is_in_no_shipped_input_file():
    assert len(SHIPPED_INPUTS) > 5
    index = build_index(DecontamConfig())  # no sources: the eval suite alone
    assert index.names == ("synthloom_eval_ref", "synthloom_eval_if")
    for path in SHIPPED_INPUTS:
        texts = _texts(path)
        hits = [m for m in index.matches({"text": texts}) if m is not None]
        assert not hits, f"{path} shares text with the eval suite: {hits[:2]}"


def test_decontamination_rejects_rows_that_copy_the_suite_by_default(tmp_path):
    suite = load_suite()
    copied = f"Sure! {suite.ref[5].reference}"
    asked = suite.ref[0].instruction  # short instructions are indexed whole
    table = pa.table({"instruction": ["Tell me a joke.", asked, "Explain it."], "response": ["No.", "x", copied]})
    result = Decontaminate(config=DecontamConfig(sources=(_other(tmp_path),)))(table)
    assert result.rows.column("instruction").to_pylist() == ["Tell me a joke."]
    details = result.rejects.column("detail").to_pylist()
    assert details[0].startswith("synthloom_eval_ref item ref-coding-01") and "synthloom_eval_ref" in details[1]
    off = Decontaminate(config=DecontamConfig(sources=(_other(tmp_path),), eval_suite=False))(table)
    assert off.rows.num_rows == 3


def _other(tmp_path: Path) -> Path:
    path = tmp_path / "other.jsonl"
    path.write_text(json.dumps({"question": "An unrelated benchmark question about the colour of ripe bananas."}))
    return path


def test_decontamination_indexes_the_files_the_eval_reads():
    from filters.decontaminate import eval_suite_sources
    from flows.eval_config import DEFAULT_SUITE
    from flows.evals.suite import suite_files

    assert tuple(s.path for s in eval_suite_sources()) == suite_files(DEFAULT_SUITE)
