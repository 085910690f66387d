"""`synthloom run` / `synthloom score --pairwise` against vLLM's own OpenAI-compatible server (the
session's `vllm_server`), as a user runs them: the CLI in a subprocess, the real embedded model behind
HTTP. Magpie (raw completions + the chat template from `openai.tokenizer`), from-text (JSON-schema
constrained output through `response_format`), the rubric judge's expected scores (logprobs over
HTTP), the pairwise judge; six shards and more at once. No in-process engine may start anywhere.
Then the server is killed mid-run: one line, exit != 0, nothing published; restarted, the same
command resumes from its checkpoints and publishes once."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from flows.store import DatasetStore
from tests.vllm_server import SERVED, VllmServer

pytestmark = [pytest.mark.integration, pytest.mark.flow]

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "data" / "seeds" / "corpus"


def engine_block(server: VllmServer, retries: int = 4) -> str:
    return (
        f"engine: {{backend: openai, model: {SERVED}, openai: {{base_url: '{server.url}', tokenizer: embedded, "
        f"max_concurrency: 16, max_retries: {retries}, backoff_s: 0.2}}}}\n"
    )


def pipeline(
    server: VllmServer, dataset: str, magpie_n: int, retries: int = 4, full: bool = True, answer_tokens: int = 256
) -> str:
    """Magpie on `magpie_n` conversations (2 per shard) and the judge; `full`: also from-text."""
    text = (
        f"dataset: {dataset}\nshard_size: 2\n{engine_block(server, retries)}"
        "heuristics: null\n"  # the 135M model's answers mostly fail them; here the judged rows are the point
        "judge: {sampling: {temperature: 0.0, max_tokens: 120}}\n"
        "sources:\n"
        f"  - kind: magpie\n    magpie: {{n: {magpie_n}, instruction: {{max_tokens: 128}}, "
        f"response: {{temperature: 0.0, max_tokens: {answer_tokens}}}}}\n"
    )
    if full:
        text += (
            f"  - kind: from_text\n    inputs: ['{CORPUS / 'honeybees.md'}']\n"
            "    text_to_instructions: {pairs_per_chunk: 2, chunk_tokens: 256, sampling: {max_tokens: 768}}\n"
        )
    return text


class VllmWatch:
    """Lists every process below a pid while it runs: an in-process vLLM engine shows up as
    `VLLM::EngineCore` (its engine-core process) below the CLI."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.seen, self.stop = proc, set(), threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set() and self.proc.poll() is None:
            try:
                for p in psutil.Process(self.proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        self.seen.add(" ".join([p.name(), *p.cmdline()])[:160])
            except psutil.Error:
                return
            time.sleep(0.3)

    def vllm(self) -> list[str]:
        self.stop.set()
        self.thread.join(5)
        return sorted(s for s in self.seen if "VLLM" in s or "EngineCore" in s)


def cli(tmp: Path, *args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess, list[str]]:
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "SYNTHLOOM_MODEL_CACHE": os.environ.get("SYNTHLOOM_MODEL_CACHE", str(REPO / "data" / "models")),
    }
    cmd = [str(Path(sys.executable).with_name("synthloom")), *args, "--data-dir", str(tmp / "data")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp)
    watch = VllmWatch(proc)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), watch.vllm()


def test_run_and_pairwise_over_vllm_server_start_no_in_process_engine(tmp_path, vllm_server):
    (tmp_path / "p.yaml").write_text(pipeline(vllm_server, "served", magpie_n=12))
    done, vllm_procs = cli(tmp_path, "run", str(tmp_path / "p.yaml"), "--summary-json", str(tmp_path / "s.json"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert vllm_procs == [], vllm_procs  # no VLLM::EngineCore below the CLI: nothing loaded in-process
    summary = json.loads((tmp_path / "s.json").read_text())
    described = f"openai:{SERVED} @ {vllm_server.url}"
    assert summary["engines_built"] == [described]  # what the engine factory built: only the server
    assert summary["engines"] == {"generator": described, "judge": described}
    assert f"judge on {described}" in done.stdout
    assert summary["stages"]["magpie"]["run"] == 6 and summary["stages"]["from_text"]["run"] >= 1  # 7 shards at once

    version = DatasetStore(tmp_path / "data" / "datasets").get("served")
    manifest = version.manifest()
    assert manifest.config["engines"] == summary["engines"]
    rows = version.read().to_pylist()
    assert rows, [(s.name, s.rows_out) for s in manifest.stages]
    by_stage = {s.name: s for s in manifest.stages}
    assert by_stage["from_text"].rows_in > 0 and by_stage["judge"].rows_in > 0
    scores = [r["judge_score"] for r in rows if r.get("judge_score") is not None]
    assert scores and any(s != int(s) for s in scores), scores  # expected scores from logprobs, not digits

    # the pairwise judge (candidates sampled, both orders judged) on the same server, as a one-off over
    # an imported set (the 135M model's own rows are few)
    pairs = [("Name a primary colour.", "Red."), ("What is 3 + 4?", "7"), ("Say hello in French.", "Bonjour.")]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"prompt": q, "completion": a}) + "\n" for q, a in pairs))
    assert cli(tmp_path, "import", str(tmp_path / "pairs.jsonl"), "--dataset", "mine")[0].returncode == 0
    (tmp_path / "judge.yaml").write_text("judge:\n  " + engine_block(vllm_server) + "candidates: {k: 2}\n")
    done, vllm_procs = cli(
        tmp_path, "score", "mine", "--out", "prefs", "--pairwise", "--config", str(tmp_path / "judge.yaml")
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert vllm_procs == []
    prefs = DatasetStore(tmp_path / "data" / "datasets").get("prefs")
    stages = {s.name: s for s in prefs.manifest().stages}
    assert stages["pairwise"].rows_in == 3 and stages["candidates"].rows_in == 3
    assert prefs.manifest().config["engines"] == {
        "generator": described,
        "candidates": described,
        "pairwise": described,
    }


def test_server_killed_mid_run_then_restarted_resumes_and_publishes_once(tmp_path, vllm_server):
    config = pipeline(vllm_server, "killed", magpie_n=4, retries=2, full=False, answer_tokens=96)
    (tmp_path / "p.yaml").write_text(config)
    args = ("run", str(tmp_path / "p.yaml"))
    checkpoints = tmp_path / "data" / "datasets" / ".cache" / "killed"

    def kill_when_a_shard_is_done() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not list(checkpoints.glob("magpie/*/stats.json")):
            time.sleep(0.2)
        vllm_server.kill()

    killer = threading.Thread(target=kill_when_a_shard_is_done, daemon=True)
    killer.start()
    try:
        done, _ = cli(tmp_path, *args)
    finally:
        killer.join(700)
        if not vllm_server.alive():
            vllm_server.start()  # the rest of the session needs it, whatever happened here
    err = done.stderr.strip()
    assert done.returncode != 0, done.stdout[-2000:]
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert vllm_server.url in line and "run the same command again to resume" in line, err
    assert not (tmp_path / "data" / "datasets" / "killed" / "v1").exists()  # nothing published

    done, _ = cli(tmp_path, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "published killed@v1" in done.stdout
    magpie = next(x for x in done.stdout.splitlines() if x.strip().startswith("magpie:"))
    assert " 0 from checkpoints" not in magpie, magpie  # resumed: finished shards were not redone
    again, _ = cli(tmp_path, *args)
    assert again.returncode == 0 and "already published" in again.stdout
    assert [v.ref for v in DatasetStore(tmp_path / "data" / "datasets").versions("killed")] == ["killed@v1"]
