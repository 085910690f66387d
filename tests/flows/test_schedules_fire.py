"""The real Prefect scheduler fires `synthloom serve`'s schedule: a server started here (its own port,
home and SQLite database), serve as a subprocess with a scripted engine, and no run_deployment:
two scheduled runs publish v1 and v2, and v2's manifest names v1. (With SQLAlchemy 2.1 the
server's scheduler fails every loop and no run is ever scheduled: this test times out.)
Slow (serve, two flow-run processes; the server is the session's `live_api`): about a minute."""

from __future__ import annotations

import json
import subprocess

import pytest

from flows.store import DatasetStore
from tests.flows.live_prefect import BIN, PIPELINE, serve_env, start_serve, stop_group, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.flow]


def test_the_scheduler_fires_serve_runs_that_publish_v1_then_v2(tmp_path, live_api):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    store = DatasetStore(tmp_path / "data" / "datasets")
    log = tmp_path / "serve.log"
    args = [str(tmp_path / "p.yaml"), "--every", "10", "--data-dir", str(tmp_path / "data"), "--name", "ticks"]
    proc = start_serve(args, serve_env(live_api, tmp_path), log)
    try:
        wait_until(lambda: len(store.versions("ticks")) >= 2, 600, "two scheduled runs to publish", proc, log)
        env = serve_env(live_api, tmp_path)
        report, text = schedules(env, "--json", "--name", "ticks"), schedules(env, "--name", "ticks")
    finally:
        stop_group(proc)
    v1, v2 = store.versions("ticks")[:2]
    assert v1.manifest().parent_versions == [] and v2.manifest().parent_versions == ["ticks@v1"]
    assert v1.manifest().config["tag"] != v2.manifest().config["tag"]  # each scheduled time samples anew

    # `synthloom schedules`, read from the same server while serve was running
    (d,) = report
    assert d["deployment"] == "synthloom-pipeline/ticks" and not d["paused"]
    assert d["schedules"] == [{"schedule": "every 10s", "active": True}]
    assert (d["limit"], d["overlap"]) == (1, "queue") and d["next"]
    published = {r["published"][0]: r["state"] for r in d["last"] if r["published"]}
    assert published["ticks@v1"] == published["ticks@v2"] == "Completed"
    assert "synthloom-pipeline/ticks: every 10s; active; runs at a time: 1, overlap: queue" in text
    assert "Completed" in text and "ticks@v2" in text


def schedules(env: dict[str, str], *args: str):
    out = subprocess.run([str(BIN / "synthloom"), "schedules", *args], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout) if "--json" in args else out.stdout
