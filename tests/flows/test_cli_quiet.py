"""`synthloom run` in a real process shows one progress display and a short summary; whatever the
engine writes (logger, stdout, stderr, raw fd 2 as vLLM's worker processes do) goes to the run's log
file, unless --verbose. A noisy scripted engine stands in for vLLM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

REPO = Path(__file__).resolve().parents[2]
PIPELINE = "dataset: quiet\nshard_size: 2\nsources:\n  - kind: magpie\n    magpie: {n: 4}\ndedup: null\n"


def run_cli(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    (tmp_path / "state").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PYTHONPATH": str(REPO),
        "SYNTHLOOM_ENGINE_FACTORY": "tests.flows.slow_engine:engine",
        "SLOW_ENGINE_DIR": str(tmp_path / "state"),
        "SLOW_ENGINE_DELAY_S": "0.05",
        "SLOW_ENGINE_NOISE": "1",
    }
    (tmp_path / "p.yaml").write_text(PIPELINE)
    args = [str(Path(sys.executable).with_name("synthloom")), *extra, "run", str(tmp_path / "p.yaml")]
    return subprocess.run(
        [*args, "--data-dir", str(tmp_path / "data")], env=env, capture_output=True, text=True, timeout=300
    )


def test_run_shows_progress_and_summary_and_sends_engine_output_to_the_log(tmp_path):
    proc = run_cli(tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "VLLM-NOISE" not in out and "Task run" not in out  # no engine log, no Prefect per-task chatter
    assert "magpie 2/2" in out and "ETA" in out  # the progress display (a line, not a terminal)
    assert "run finished in" in out and "quiet@v1" in out
    (log,) = (tmp_path / "data" / "datasets" / ".cache" / "quiet" / "logs").glob("run-*.log")
    assert f"engine and Prefect log: {log}" in out
    logged = log.read_text()
    for channel in ("vllm logger", "stdout", "stderr", "fd 2"):
        assert f"VLLM-NOISE {'from the' if channel == 'vllm logger' else 'on'} {channel}" in logged


def test_verbose_shows_the_engine_output(tmp_path):
    proc = run_cli(tmp_path, "--verbose")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "VLLM-NOISE on fd 2" in proc.stdout + proc.stderr
    assert not (tmp_path / "data" / "datasets" / ".cache" / "quiet" / "logs").exists()
