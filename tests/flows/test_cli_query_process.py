"""`synthloom query` as a real process: it answers without importing pandas (the import hook in
flows/main.py keeps a sub-second command from paying for it), and a plain call skips the CLI
framework (typer, click, rich, pydantic) but answers, fails and exits as under typer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.main import query_args
from flows.store import DatasetStore
from flows.store.publish import publish_version
from tests.flows.helpers import stage_result


def test_query_runs_as_a_process_without_pandas(tmp_path):
    r = stage_result(["What is the capital of France and why?", "How do plants grow in the winter months?"])
    publish_version(DatasetStore(tmp_path / "datasets"), "demo", r.rows, [r.rejects], [r.stats], {}, "r", [])
    exe = Path(sys.executable).with_name("synthloom")
    sql = "SELECT version, count(*) AS n FROM demo_all GROUP BY 1"
    out = subprocess.run(
        [str(exe), "query", sql, "--format", "json", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert [json.loads(line) for line in out.stdout.splitlines()] == [{"version": 1, "n": 2}]
    probe = (
        "import sys\nfrom flows.main import main\n"
        f"sys.argv = ['synthloom', 'query', 'SELECT count(*) FROM demo', '--data-dir', {str(tmp_path)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pandas loaded' if sys.modules.get('pandas') else 'no pandas', file=sys.stderr)"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert ran.stderr.strip().endswith("no pandas"), ran.stderr


def _publish(tmp_path: Path) -> None:
    r = stage_result(["What is the capital of France and why?", "How do plants grow in the winter months?"])
    publish_version(DatasetStore(tmp_path / "datasets"), "demo", r.rows, [r.rejects], [r.stats], {}, "r", [])


def _main(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    probe = (
        "import sys\nfrom flows.main import main\n"
        f"sys.argv = ['synthloom', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
        "heavy = [m for m in ('typer', 'click', 'pydantic', 'rich', 'pandas', 'prefect') if m in sys.modules]\n"
        "print(f'exit={code} heavy={heavy}', file=sys.stderr)"
    )
    env = {**os.environ, "SYNTHLOOM_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)


def test_plain_query_skips_typer_and_pydantic_and_keeps_exit_codes(tmp_path):
    _publish(tmp_path)
    ok = _main(tmp_path, "query", "SELECT count(*) AS n FROM demo_all", "-f", "json")
    assert ok.stdout.strip() == '{"n": 2}'
    assert ok.stderr.strip().endswith("exit=0 heavy=[]"), ok.stderr
    bad = _main(tmp_path, "query", "SELECT nope FROM demo", "--format=csv")
    assert "error: SQL error: Binder Error" in bad.stderr
    assert bad.stderr.strip().endswith("exit=2 heavy=[]"), bad.stderr
    typed = _main(tmp_path, "query", "SELECT 1", "--format", "xml")  # typer explains the bad option
    assert "--format must be table, csv or json" in typed.stderr and "exit=2" in typed.stderr


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        (["query", "SELECT 1"], ("SELECT 1", "table", Path("data"))),
        (["--debug", "query", "SELECT 1", "-f", "csv", "--data-dir", "/d"], ("SELECT 1", "csv", Path("/d"))),
        (["query", "--format=json", "SELECT 1", "--data-dir=/x"], ("SELECT 1", "json", Path("/x"))),
        (["query", "--help"], None),
        (["query"], None),
        (["query", "SELECT 1", "SELECT 2"], None),
        (["query", "SELECT 1", "--format", "xml"], None),
        (["query", "SELECT 1", "--format"], None),
        (["query", "SELECT 1", "--bogus"], None),
        (["--data-dir", "/d", "query", "SELECT 1"], None),
    ],
)
def test_query_args_take_only_plain_calls(monkeypatch, args, parsed):
    monkeypatch.delenv("SYNTHLOOM_DATA_DIR", raising=False)
    monkeypatch.setenv("SYNTHLOOM_DEBUG", "")  # recorded, so that what --debug sets is undone afterwards
    monkeypatch.delenv("SYNTHLOOM_DEBUG")
    assert query_args(args) == parsed
