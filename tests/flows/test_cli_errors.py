"""User-caused failures are one line and exit code 2, found before Prefect or an engine starts where
possible (issue 12, errors); `--debug` / SYNTHLOOM_DEBUG=1 shows the traceback instead."""

from __future__ import annotations

import errno

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.store import DatasetStore
from schemas.errors import DatasetError
from tests.flows.store.test_datasets import publish
from tests.flows.test_cli import run

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

PIPELINE = "dataset: d\nsources:\n  - kind: magpie\n    magpie: {n: 2}\n"


def error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("cmd", [["generate", "magpie", "--dataset", "ok", "--config"], ["run"]])
def test_config_path_that_is_a_directory(tmp_path, cmd):
    (tmp_path / "conf").mkdir()
    code, out = run(*cmd, str(tmp_path / "conf"), data_dir=tmp_path / "d")
    assert code == 2 and error_lines(out) == [
        f"error: config path {tmp_path / 'conf'} is a directory: " + ("give a YAML/JSON file inside it")
    ]
    assert not (tmp_path / "d").exists()


def test_absurd_max_tokens_is_refused_at_config_time_naming_the_limit(tmp_path):
    (tmp_path / "c.yaml").write_text("magpie:\n  response: {max_tokens: 1000000000000}\n")
    code, out = run("generate", "magpie", "--dataset", "ok", "--config", str(tmp_path / "c.yaml"), data_dir=tmp_path)
    assert code == 2 and "magpie.response.max_tokens" in out and "1048576" in out


def test_max_tokens_beyond_max_model_len_is_refused_naming_both(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("{n: 2}", "{n: 2, response: {max_tokens: 5000}}"))
    code, out = run("run", str(tmp_path / "p.yaml"), data_dir=tmp_path / "d")
    assert code == 2 and "sources.0.magpie.response.max_tokens=5000" in out and "max_model_len=4096" in out
    assert not (tmp_path / "d").exists()


def test_from_text_without_usable_input_fails_before_prefect_starts(tmp_path, monkeypatch):
    import flows.cli

    def no_prefect() -> None:
        raise AssertionError("Prefect was started")

    monkeypatch.setattr(flows.cli, "_prefect_env", no_prefect)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "blob.txt").write_bytes(b"\x00\x01\x02" * 100)
    code, out = run("generate", "from-text", str(tmp_path / "in"), "--dataset", "qa", data_dir=tmp_path / "d")
    assert code == 2 and len(error_lines(out)) == 1 and "no usable documents" in out


def test_debug_flag_and_env_show_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHLOOM_DEBUG", "0")  # restored after the test; --debug sets it
    res = CliRunner().invoke(app, ["--debug", "datasets", "show", "nope", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1 and isinstance(res.exception, DatasetError)
    monkeypatch.setenv("SYNTHLOOM_DEBUG", "1")
    res = CliRunner().invoke(app, ["datasets", "show", "nope", "--data-dir", str(tmp_path)])
    assert isinstance(res.exception, DatasetError)
    monkeypatch.setenv("SYNTHLOOM_DEBUG", "0")
    code, out = run("datasets", "show", "nope", data_dir=tmp_path)
    assert code == 2 and error_lines(out) == [
        f"error: no dataset named 'nope' under {tmp_path / 'datasets'} " + ("(datasets: none yet)")
    ]


def test_disk_full_while_publishing_is_one_line(tmp_path, monkeypatch):
    import flows.store.datasets as store_mod

    publish(DatasetStore(tmp_path / "datasets"), "demo", ["How do tides work near the coast?"])

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod.pq, "write_table", full)  # the same pyarrow module checkpoints write with
    code, out = run("filter", "demo", "--out", "clean", data_dir=tmp_path)
    assert code == 2 and "error: disk full while checkpointing read" in out and "Traceback" not in out
    assert "run the command again to resume" in out
    assert DatasetStore(tmp_path / "datasets").versions("clean") == []


def test_a_published_version_whose_summary_fails_exits_0_with_a_warning(tmp_path, monkeypatch):
    import flows.catalog

    publish(DatasetStore(tmp_path / "datasets"), "demo", ["How do tides work near the coast?"])

    def broken(*args, **kwargs):
        raise OSError("part-00000.parquet: truncated")

    monkeypatch.setattr(flows.catalog, "query", broken)
    code, out = run("filter", "demo", "--out", "clean", data_dir=tmp_path)
    assert code == 0 and "published clean@v1" in out
    assert "warning: clean@v1 is published, but its rejects summary failed" in out
    assert [v.number for v in DatasetStore(tmp_path / "datasets").versions("clean")] == [1]
