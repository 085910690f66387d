"""`synthloom serve`: one deployment of a flow on a schedule, one run at a time, and a clean stop.

The Prefect runner polls for due runs in a background thread (its own event loop); the main thread
only waits for SIGTERM / SIGINT, so a stop never depends on the Prefect server answering. On a
signal: with `on_stop="cancel"` the runner cancels the current run (marked Cancelled when the
server answers); `"finish"` first lets it end (a second signal cancels it). Either way, within
`stop_grace_s` every process `serve` started is gone: the flow-run process and its own children
(vLLM's `VLLM::EngineCore` and `VLLM::Worker`). The runner kills the flow-run process, which would
orphan vLLM's processes to init; so `serve` makes itself their subreaper (Linux
PR_SET_CHILD_SUBREAPER: orphans below it are re-parented to it, not to init), lists its descendants
before and after stopping the runner, and sends SIGTERM, then SIGKILL, to all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
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
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux), so a grandchild whose parent
    died (vLLM's engine core after its flow-run process was killed) stays below it, where
    `kill_tree` finds it. False where the OS has no such thing."""
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(name, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


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
    become_subreaper()
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
    orphans = Orphans(os.getpid())
    if not signals.wait(while_alive=thread, orphans=orphans):
        log.error("the Prefect runner stopped on its own; see the log above")
        kill_tree(os.getpid(), spec.stop_grace_s)
        return 1
    if spec.on_stop == "finish":
        print("stopping: no new runs; waiting for the current one to finish (signal again to cancel it)", flush=True)
        _finish_current_run(runner, signals, orphans)
    print(f"stopping the runner: a run still going is cancelled (at most {spec.stop_grace_s:.0f}s)...", flush=True)
    deadline = time.monotonic() + spec.stop_grace_s
    before = _descendants(os.getpid())  # listed first: the runner kills the flow-run process next
    _stop_runner(runner, loop, thread, deadline - min(KILL_AFTER_S, spec.stop_grace_s / 2))
    term_wait = max(1.0, min(KILL_AFTER_S, deadline - time.monotonic()))
    left = kill_tree(os.getpid(), term_wait, also=before)
    crashed = mark_crashed(deployment_id) if left else 0
    note = f"; {crashed} run(s) it killed marked Crashed" if crashed else ""
    print(f"stopped{f' ({left} leftover processes killed{note})' if left else ''}", flush=True)
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

    def wait(self, while_alive: threading.Thread, orphans: Orphans) -> bool:
        """True once a signal came, False if the thread ended first. Meanwhile reaps orphans."""
        while not self.event.wait(0.5):
            orphans.reap()
            if not while_alive.is_alive():
                return False
        return True


class Orphans:
    """As a subreaper, `serve` inherits the grandchildren whose parent ended first (vLLM's engine
    processes after a run). Reap those when they exit, so a long-lived `serve` gathers no zombies;
    the runner's own children (flow-run processes) are left to the runner, which waits on them."""

    def __init__(self, pid: int):
        self.pid = pid
        self.grandchildren: set[int] = set()

    def reap(self) -> None:
        children = {p.pid: p for p in _descendants(self.pid) if _parent_is(p, self.pid)}
        for pid in set(children) & self.grandchildren:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        self.grandchildren = {p.pid for p in _descendants(self.pid)} - set(children) | (
            self.grandchildren & set(children)
        )


def _parent_is(p: psutil.Process, pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return p.ppid() == pid
    return False


def _finish_current_run(runner: Runner, signals: StopSignals, orphans: Orphans) -> None:
    """No new runs; wait for the current one's processes to end (or for a second signal). Orphans a
    finished run left (re-parented to serve, its subreaper) are not waited for: the stop kills them."""
    poller = getattr(runner, "_scheduled_run_poller", None)
    if poller is not None:
        poller.stopping = True
    seen = signals.count
    while signals.count == seen:
        orphans.reap()
        if not [p for p in _run_processes(os.getpid()) if p.pid not in orphans.grandchildren]:
            return
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


def kill_tree(pid: int, grace_s: float, also: Sequence[psutil.Process] = ()) -> int:
    """SIGTERM every process below `pid` and every process of `also` still running (listed earlier,
    so orphans re-parented elsewhere are not missed), SIGKILL those still there after `grace_s`,
    listing again first (a dying parent's children). Returns how many had to be killed."""
    procs = _union(_descendants(pid), [p for p in also if _same_alive(p)])
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, still = psutil.wait_procs(procs, timeout=grace_s)
    still = _union(still, _descendants(pid))
    for p in still:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(still, timeout=5)
    return len(still)


def _same_alive(p: psutil.Process) -> bool:
    """Still the process listed (psutil compares its start time, so a reused pid is not it)."""
    with contextlib.suppress(psutil.Error):
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    return False


def _union(a: Sequence[psutil.Process], b: Sequence[psutil.Process]) -> list[psutil.Process]:
    seen = {p.pid for p in a}
    return [*a, *(p for p in b if p.pid not in seen)]


def mark_crashed(deployment_id: Any) -> int:
    """Runs of this deployment still Running after the stop killed their processes (they had no time
    to report): Crashed, with why, so no run stays Running forever. Nothing when the server is gone."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas import filters
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    by_deployment = filters.DeploymentFilter(id=filters.DeploymentFilterId(any_=[deployment_id]))
    running = filters.FlowRunFilter(
        state=filters.FlowRunFilterState(type=filters.FlowRunFilterStateType(any_=[StateType.RUNNING]))
    )
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(deployment_filter=by_deployment, flow_run_filter=running)
            for run in runs:
                state = Crashed(message="synthloom serve stopped and ended this run's processes")
                client.set_flow_run_state(run.id, state, force=True)
            return len(runs)
    except Exception as err:  # the server is gone or unreachable: nobody to tell
        log.warning("could not mark the killed run(s) Crashed: %s", type(err).__name__)
        return 0


def _exit_soon(after_s: float) -> None:
    """Interpreter exit can wait on Prefect's API log/event workers: with the server gone, forever."""
    timer = threading.Timer(after_s, os._exit, args=(0,))
    timer.daemon = True
    timer.start()
