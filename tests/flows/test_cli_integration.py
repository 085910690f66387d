"""`synthloom generate magpie` end to end: real embedded model, real Prefect server, then the
published Parquet read back by DuckDB (via `synthloom query`) and HF datasets."""

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.flow]


def test_generate_rerun_then_new_seed_then_query(tmp_path, real_engine):
    """The same command twice publishes once (it would make the same rows); a new seed is a new version."""
    cfg = tmp_path / "small.yaml"
    cfg.write_text("magpie:\n  instruction: {max_tokens: 96}\n  response: {temperature: 0.0, max_tokens: 256}\n")
    runner = CliRunner()
    args = ["generate", "magpie", "--n", "6", "--dataset", "smoke", "--config", str(cfg), "--data-dir", str(tmp_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "published smoke@v1" in first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already published" in again.output and "smoke@v1" in again.output
    other = tmp_path / "other.yaml"
    other.write_text(cfg.read_text() + "  seed: 1000\n")
    second = runner.invoke(app, [*args[:-4], "--config", str(other), "--data-dir", str(tmp_path)])
    assert second.exit_code == 0 and "published smoke@v2" in second.output, second.output

    v1 = tmp_path / "datasets" / "smoke" / "v1"
    manifest = json.loads((v1 / "manifest.json").read_text())
    assert manifest["stages"][0]["rows_in"] == 6 and manifest["rows"] + manifest["rejects"] == 6
    rows = [
        json.loads(line)
        for line in runner.invoke(
            app,
            [
                "query",
                "SELECT instruction, response, messages FROM smoke_all",
                "--format",
                "json",
                "--data-dir",
                str(tmp_path),
            ],
        ).output.splitlines()
    ]
    assert rows, "the real model kept no conversation in 12"
    assert all(r["instruction"].strip() and r["response"].strip() for r in rows)
    assert all([m["role"] for m in r["messages"]][-2:] == ["user", "assistant"] for r in rows)
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
