"""The real Prefect scheduler fires `synthloom serve`'s schedule: a server started here (its own port,
home and SQLite database), serve as a subprocess with a scripted engine, and no run_deployment:
two scheduled runs publish v1 and v2, and v2's manifest names v1. (With SQLAlchemy 2.1 the
server's scheduler fails every loop and no run is ever scheduled: this test times out.)
Slow (a server, serve, two flow-run processes): about a minute."""

from __future__ import annotations

import pytest

from flows.store import DatasetStore
from tests.flows.live_prefect import PIPELINE, prefect_server, serve_env, start_serve, stop_group, wait_until

pytestmark = pytest.mark.integration


def test_the_scheduler_fires_serve_runs_that_publish_v1_then_v2(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    store = DatasetStore(tmp_path / "data" / "datasets")
    log = tmp_path / "serve.log"
    with prefect_server(tmp_path) as (api, _):
        args = [str(tmp_path / "p.yaml"), "--every", "10", "--data-dir", str(tmp_path / "data"), "--name", "ticks"]
        proc = start_serve(args, serve_env(api, tmp_path), log)
        try:
            wait_until(lambda: len(store.versions("ticks")) >= 2, 150, "two scheduled runs to publish", proc, log)
        finally:
            stop_group(proc)
    v1, v2 = store.versions("ticks")[:2]
    assert v1.manifest().parent_versions == [] and v2.manifest().parent_versions == ["ticks@v1"]
    assert v1.manifest().config["tag"] != v2.manifest().config["tag"]  # each scheduled time samples anew
