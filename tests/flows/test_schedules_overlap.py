"""One run per deployment at a time: with a scripted engine that sleeps longer than the schedule's
interval, the real scheduler's next ticks never start a second run (engine) while one is going.
--overlap queue runs them afterwards; --overlap skip cancels them. Slow: about two minutes."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.flows.live_prefect import (
    PIPELINE,
    SLEEP_ENV,
    TRACE_ENV,
    flow_runs,
    read_trace,
    serve_env,
    start_serve,
    stop_group,
)

pytestmark = [pytest.mark.integration, pytest.mark.flow]


RAN = ("RUNNING", "COMPLETED")  # a skipped tick is Cancelled with start == end: it never ran


def engine_intervals(trace: list[dict]) -> list[tuple[float, float]]:
    starts = {e["pid"]: e["t"] for e in trace if e["event"] == "start"}
    return sorted((starts[e["pid"]], e["t"]) for e in trace if e["event"] == "end")


@pytest.mark.parametrize("overlap", ["queue", "skip"])
def test_a_slow_run_never_overlaps_the_next_tick(live_api, tmp_path, overlap):
    api = live_api
    (tmp_path / "p.yaml").write_text(PIPELINE)
    trace, log = tmp_path / "trace.jsonl", tmp_path / "serve.log"
    env = serve_env(api, tmp_path, **{SLEEP_ENV: "8", TRACE_ENV: str(trace)})
    args = [str(tmp_path / "p.yaml"), "--every", "5", "--overlap", overlap, "--name", f"slow-{overlap}"]
    proc = start_serve([*args, "--data-dir", str(tmp_path / "data")], env, log)
    deadline = time.monotonic() + 600  # generous: this runs beside the vLLM tests (Makefile: test)
    try:
        while len(engine_intervals(read_trace(trace))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.5)
        runs = flow_runs(api, f"slow-{overlap}")
    finally:
        stop_group(proc)
    first, second = engine_intervals(read_trace(trace))[:2]
    assert second[0] >= first[1], "the second run's engine started while the first was generating"
    ran = sorted((r["start_time"], r["end_time"] or "9999") for r in runs if r["state"]["type"] in RAN)
    assert len(ran) >= 2 and all(b[0] >= a[1] for a, b in itertools.pairwise(ran)), ran  # Prefect's own record
    states = [r["state"]["name"] for r in runs]
    if overlap == "skip":
        assert "Cancelled" in states, states  # ticks that came during a run
    else:
        assert "Cancelled" not in states, states
