"""`synthloom serve`: one deployment of a flow on a schedule, one run at a time, and a clean stop.

The Prefect runner polls for due runs in a background thread (its own event loop); the main thread
only waits for SIGTERM / SIGINT, so a stop never depends on the Prefect server answering. On a
signal: with `on_stop="cancel"` the runner cancels the current run (marked Cancelled when the
server answers); `"finish"` first lets it end (a second signal cancels it). Either way, after at
most `stop_grace_s` for the runner, every process still below `serve` (the flow-run process, vLLM
engine core/workers) is sent SIGTERM, then SIGKILL `KILL_AFTER_S` later, and the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import psutil
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.runner import Runner
from prefect.schedules import Cron, Interval, Schedule

log = logging.getLogger("synthloom.serve")

OVERLAP = {"queue": ConcurrencyLimitStrategy.ENQUEUE, "skip": ConcurrencyLimitStrategy.CANCEL_NEW}
ON_STOP = ("cancel", "finish")
KILL_AFTER_S = 5.0  # between SIGTERM and SIGKILL for processes still there after the runner stopped


@dataclass(frozen=True)
class ServeSpec:
    name: str
    schedule: Schedule
    parameters: dict[str, Any]
    overlap: str = "queue"  # a tick while a run is going: queue it, or skip it (Cancelled)
    on_stop: str = "cancel"
    stop_grace_s: float = 10.0


def make_schedule(cron: str | None, every_s: float | None, timezone: str) -> Schedule:
    return Interval(every_s, timezone=timezone) if every_s else Cron(cron or "", timezone=timezone)


def concurrency(overlap: str) -> ConcurrencyLimitConfig:
    """At most one run of the deployment at a time (each loads its own engine)."""
    return ConcurrencyLimitConfig(limit=1, collision_strategy=OVERLAP[overlap])


def serve(flow: Any, spec: ServeSpec) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (0 after a signal, 1 if the runner died)."""
    runner = Runner(name=spec.name, pause_on_shutdown=True)
    deployment_id = runner.add_flow(
        flow,
        name=spec.name,
        schedules=[spec.schedule],
        parameters=spec.parameters,
        concurrency_limit=concurrency(spec.overlap),
    )
    print(f"serving {flow.name}/{spec.name} (deployment {deployment_id}); stop with Ctrl-C or SIGTERM", flush=True)
    signals = StopSignals()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(runner.start(),), name="runner", daemon=True)
    thread.start()
    if not signals.wait(while_alive=thread):
        log.error("the Prefect runner stopped on its own; see the log above")
        kill_tree(os.getpid(), spec.stop_grace_s)
        return 1
    if spec.on_stop == "finish":
        print("stopping: no new runs; waiting for the current one to finish (signal again to cancel it)", flush=True)
        _finish_current_run(runner, signals)
    print(f"stopping the runner: a run still going is cancelled (at most {spec.stop_grace_s:.0f}s)...", flush=True)
    _stop_runner(runner, loop, thread, time.monotonic() + spec.stop_grace_s)
    left = kill_tree(os.getpid(), KILL_AFTER_S)
    print(f"stopped{f' ({left} leftover processes killed)' if left else ''}", flush=True)
    _exit_soon(spec.stop_grace_s)
    return 0


class StopSignals:
    """SIGTERM and SIGINT set an event (counted: a second one escalates `finish` to `cancel`)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.count = 0
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.event.set()

    def wait(self, while_alive: threading.Thread) -> bool:
        """True once a signal came, False if the thread ended first."""
        while not self.event.wait(0.5):
            if not while_alive.is_alive():
                return False
        return True


def _finish_current_run(runner: Runner, signals: StopSignals) -> None:
    """No new runs; wait for the current one's processes to end (or for a second signal)."""
    poller = getattr(runner, "_scheduled_run_poller", None)
    if poller is not None:
        poller.stopping = True
    seen = signals.count
    while _run_processes(os.getpid()) and signals.count == seen:
        time.sleep(0.5)


def _run_processes(pid: int) -> list[psutil.Process]:
    """Processes below `serve` other than multiprocessing's resource tracker (which lives as long as serve)."""
    out = []
    for p in _descendants(pid):
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" not in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
    return out


def _stop_runner(runner: Runner, loop: asyncio.AbstractEventLoop, thread: threading.Thread, deadline: float) -> None:
    """Ask the runner to cancel its runs and pause the schedule; give up at the deadline (server gone)."""
    if not loop.is_running():
        return
    future = asyncio.run_coroutine_threadsafe(runner.astop(), loop)
    try:
        future.result(timeout=max(0.1, deadline - time.monotonic()))
    except Exception as err:  # a timeout, an unreachable server, a runner that never started
        log.warning("runner did not stop cleanly (%s); killing its processes", type(err).__name__)
    thread.join(timeout=max(0.1, deadline - time.monotonic()))


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kill_tree(pid: int, grace_s: float) -> int:
    """SIGTERM every process below `pid` (listed first, so orphans are not missed), SIGKILL those
    still there after `grace_s`. Returns how many had to be killed."""
    procs = _descendants(pid)
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, still = psutil.wait_procs(procs, timeout=grace_s)
    for p in still:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(still, timeout=5)
    return len(still)


def _exit_soon(after_s: float) -> None:
    """Interpreter exit can wait on Prefect's API log/event workers: with the server gone, forever."""
    timer = threading.Timer(after_s, os._exit, args=(0,))
    timer.daemon = True
    timer.start()
