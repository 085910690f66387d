"""How `synthloom run` stops on Ctrl-C / SIGTERM. The first signal stops the run like a reached
budget: no new model batch starts, batches in flight finish, and what passed so far is published as
a version with `stopped: interrupted` (a rerun of the same command goes on from the checkpoints).
A second signal stops at once: every process the run started (vLLM's engine core and workers
included, orphans too: the run is their subreaper) is ended, nothing is published, finished stages
stay checkpointed.

Signals are watched through `signal.set_wakeup_fd` (written by the C-level handler, whichever Python
handler is installed) from a thread of our own: Prefect swaps its own SIGTERM handler in while a flow
runs, so the flow calls `graceful_stop_here()` to put ours back for its body. Main thread only."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from flows.serving import KILL_AFTER_S, become_subreaper, kill_tree
from generators.engines.spend import METER


class _Watch:
    active = False  # ends_children_on_interrupt is on (a `synthloom run` in this process)
    signals = 0  # signals the Python-level handler saw while active
    stopping = False  # the watcher saw a first signal: the run stops gracefully


def _on_signal(signum: int, frame: Any) -> None:
    """The first signal only asks the run to stop (the watcher thread does it); a second one raises."""
    _Watch.signals += 1
    if _Watch.signals > 1:
        raise KeyboardInterrupt(f"signal {signum}")


def graceful_stop_here() -> None:
    """Inside a flow of `synthloom run`: our handler for SIGTERM again (Prefect installed its own)."""
    if _Watch.active and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)


@contextlib.contextmanager
def ends_children_on_interrupt(grace_s: float = KILL_AFTER_S) -> Iterator[None]:
    """For `synthloom run`: the first SIGTERM / Ctrl-C stops the run gracefully, a second at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    become_subreaper()
    r, w = os.pipe()
    os.set_blocking(w, False)
    previous_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    _Watch.active, _Watch.signals = True, 0
    err = os.dup(2)  # the terminal's stderr: a run sends fd 2 to its log file meanwhile (flows/progress.py)
    threading.Thread(target=_watch_signals, args=(r, err, grace_s), name="stop-watch", daemon=True).start()
    try:
        yield
    finally:
        if _Watch.stopping:  # a stopped run leaves engine batches behind: end vLLM's processes with it
            kill_tree(os.getpid(), grace_s)
        _Watch.active, _Watch.stopping = False, False
        signal.set_wakeup_fd(previous_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        os.close(w)  # the watcher reads EOF and ends


def _watch_signals(r: int, err: int, grace_s: float) -> None:
    seen = 0
    with contextlib.suppress(OSError), os.fdopen(r, "rb", buffering=0) as pipe:
        while data := pipe.read(64):
            for _ in (b for b in data if b in (signal.SIGTERM, signal.SIGINT)):
                seen += 1
                if seen == 1:
                    _Watch.stopping = True
                    METER.stop("interrupted", "Ctrl-C / SIGTERM")
                    line = "stopping: no new model calls; batches in flight finish, then what passed is published"
                    os.write(err, (line + " (press Ctrl-C again to stop at once, publishing nothing)\n").encode())
                    continue
                _stop_now(err, grace_s)
                return
    os.close(err)


def _stop_now(err: int, grace_s: float) -> None:
    left = kill_tree(os.getpid(), grace_s)
    killed = f" ({left} killed)" if left else ""
    line = f"interrupted: stopped this run's processes{killed}; nothing was published, finished "
    os.write(err, (line + "shards are checkpointed: run the same command again to resume\n").encode())
    # Prefect waits at exit for its task threads and event workers: do not hang on them.
    timer = threading.Timer(5.0, _exit_now, args=(130,))
    timer.daemon = True
    timer.start()


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
