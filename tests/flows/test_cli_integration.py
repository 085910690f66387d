"""`synthloom generate magpie` end to end: real embedded model, real Prefect server, then the
published Parquet read back by DuckDB (via `synthloom query`) and HF datasets."""

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.integration


def test_generate_twice_then_query(tmp_path, real_engine):
    cfg = tmp_path / "small.yaml"
    cfg.write_text("magpie:\n  instruction: {max_tokens: 96}\n  response: {temperature: 0.0, max_tokens: 160}\n")
    runner = CliRunner()
    args = ["generate", "magpie", "--n", "4", "--dataset", "smoke", "--config", str(cfg), "--data-dir", str(tmp_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "published smoke@v1" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "published smoke@v2" in second.output

    v1 = tmp_path / "datasets" / "smoke" / "v1"
    manifest = json.loads((v1 / "manifest.json").read_text())
    assert manifest["stages"][0]["rows_in"] == 4 and manifest["rows"] + manifest["rejects"] == 4
    res = runner.invoke(
        app,
        [
            "query",
            "SELECT version, count(*) AS n FROM smoke_all GROUP BY 1 ORDER BY 1",
            "--format",
            "json",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0
    counts = {json.loads(line)["version"]: json.loads(line)["n"] for line in res.output.splitlines()}
    assert counts.get(1, 0) == manifest["rows"]

    if manifest["rows"]:  # HF datasets refuses a split with zero rows
        from datasets import load_dataset

        ds = load_dataset("parquet", data_files=str(v1 / "rows" / "*.parquet"), split="train")
        assert ds.num_rows == manifest["rows"]
