import json

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.store import DatasetStore
from flows.store.export import export_version
from schemas.errors import DatasetError
from tests.flows.helpers import answer
from tests.flows.store.test_datasets import publish


@pytest.fixture
def version(tmp_path):
    return publish(DatasetStore(tmp_path / "datasets"), "demo", ["a?", "b?"])


def test_chat_jsonl_and_sharegpt(version, tmp_path):
    assert export_version(version, "chat-jsonl", tmp_path / "c.jsonl") == 2
    first = json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])
    assert first == {"messages": [{"role": "user", "content": "a?"}, {"role": "assistant", "content": answer("a?")}]}
    export_version(version, "sharegpt", tmp_path / "s.jsonl")
    conv = json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0])["conversations"]
    assert [c["from"] for c in conv] == ["human", "gpt"]


def test_hf_folder_loads_with_datasets(version, tmp_path):
    import datasets

    export_version(version, "hf", tmp_path / "hf")
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert ds.num_rows == 2 and ds[0]["messages"][0]["role"] == "user"


def test_never_overwrites_and_bad_format(version, tmp_path):
    (tmp_path / "x.jsonl").write_text("keep")
    with pytest.raises(DatasetError, match="exists"):
        export_version(version, "chat-jsonl", tmp_path / "x.jsonl")
    assert (tmp_path / "x.jsonl").read_text() == "keep"
    with pytest.raises(DatasetError, match="unknown export format"):
        export_version(version, "csv", tmp_path / "y")


def test_cli_export(version, tmp_path):
    res = CliRunner().invoke(app, ["export", "demo@v1", "-o", str(tmp_path / "o.jsonl"), "--data-dir", str(tmp_path)])
    assert res.exit_code == 0 and "exported 2 rows of demo@v1" in res.output
