"""CLI behaviour: bad input fails clearly with nothing written; inspection commands."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.store import DatasetStore
from tests.flows.store.test_datasets import publish

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

runner = CliRunner()


def run(*args: str, data_dir) -> tuple[int, str]:
    res = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    return res.exit_code, res.output


def test_bad_dataset_name_fails_before_any_work(tmp_path):
    code, out = run("generate", "magpie", "--dataset", "../x", "--n", "2", data_dir=tmp_path)
    assert code == 2 and "invalid dataset name '../x'" in out
    assert list(tmp_path.iterdir()) == []


def test_wrong_config_field_names_it(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("magpie:\n  nn: 3\n")
    code, out = run("generate", "magpie", "--dataset", "ok", "--config", str(cfg), data_dir=tmp_path / "d")
    assert code == 2 and "magpie.nn: unknown key" in out
    assert not (tmp_path / "d").exists()


def test_unknown_model_path_fails_with_exit_code_in_a_real_process(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"engine:\n  model: {tmp_path / 'no-such-model'}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "generate",
            "magpie",
            "--dataset",
            "ok",
            "--config",
            str(cfg),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no-such-model' not found" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "d").exists()


def test_datasets_list_show_and_query(tmp_path):
    store = DatasetStore(tmp_path / "datasets")
    publish(store, "demo", ["a?", "b?"])
    publish(store, "demo", ["c?"])
    code, out = run("datasets", "list", data_dir=tmp_path)
    assert code == 0 and "demo: 2 version(s), latest v2 with 1 rows" in out
    code, out = run("datasets", "show", "demo@v1", data_dir=tmp_path)
    assert code == 0 and '"rows": 2' in out
    assert f"dataset card: {tmp_path / 'datasets' / 'demo' / 'v1' / 'card' / 'README.md'}" in out
    code, out = run("query", "SELECT count(*) AS n FROM demo_all", "--format", "json", data_dir=tmp_path)
    assert code == 0 and out.strip() == '{"n": 3}'
    code, out = run("query", "DROP VIEW demo", data_dir=tmp_path)
    assert code == 2 and "only reading statements" in out


def test_show_unknown_version(tmp_path):
    publish(DatasetStore(tmp_path / "datasets"), "demo", ["a?"])
    code, out = run("datasets", "show", "demo@v7", data_dir=tmp_path)
    assert code == 2 and "versions: v1" in out


HELPS = [["generate", "magpie"], ["datasets", "show"], ["query"], ["datasets", "list"], ["run"], ["serve"], ["train"]]


@pytest.mark.parametrize("cmd", HELPS)
def test_every_help_has_an_example(cmd):
    res = runner.invoke(app, [*cmd, "--help"])
    assert res.exit_code == 0 and "Example:" in res.output
