"""One live progress display for `synthloom run`: shards done / running per stage, engine requests in
flight, completion tokens/s, ETA. `render` is a pure function of a `Snapshot`; `Progress` keeps the
counts (thread-safe: shard tasks and the flow thread update it) and a reporter thread prints them —
in place on a terminal, one line every `every_s` seconds otherwise (CI logs).

Counts come from two places: the shard tasks mark themselves started/finished (in this process, so
"running" is exact with the local runner and 0 under Ray), and the flow thread marks every finished
task as its future completes (exact on every runner). Engine figures come from `engine_stats`, a
callable (the batching dispatcher's live counters), so this module needs no engine.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

EngineStats = Callable[[], tuple[int, int] | None]  # (requests in flight, completion tokens so far)


@dataclass(frozen=True)
class StageCount:
    total: int = 0
    done: int = 0
    cached: int = 0
    running: int = 0


@dataclass(frozen=True)
class Snapshot:
    elapsed_s: float
    phase: str = ""  # e.g. "calibrating the judge" before any shard runs
    stages: tuple[tuple[str, StageCount], ...] = ()
    in_flight: int | None = None  # engine requests; None when the engine does not say
    tokens_per_s: float | None = None


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def eta_s(snap: Snapshot) -> float | None:
    """Remaining shard tasks at the rate tasks have finished so far (checkpoint loads don't count
    as speed); None until one task has run."""
    total = sum(c.total for _, c in snap.stages)
    done = sum(c.done for _, c in snap.stages)
    ran = done - sum(c.cached for _, c in snap.stages)
    if total == 0 or done >= total:
        return 0.0 if total else None
    if ran <= 0 or snap.elapsed_s <= 0:
        return None
    return (total - done) * snap.elapsed_s / ran


def render(snap: Snapshot) -> str:
    """One line: `[1m05s] magpie 2/2 · judge 1/4 (2 running) · engine 24 in flight, 95 tok/s · ETA 0m40s`."""
    parts = [f"[{_clock(snap.elapsed_s)}]"]
    if snap.phase:
        parts.append(snap.phase)
    stages = []
    for name, c in snap.stages:
        running = f" ({c.running} running)" if c.running else ""
        stages.append(f"{name} {c.done}/{c.total}{running}")
    if stages:
        parts.append(" · ".join(stages))
    if snap.in_flight is not None:
        rate = f", {snap.tokens_per_s:.0f} tok/s" if snap.tokens_per_s is not None else ""
        parts.append(f"engine {snap.in_flight} in flight{rate}")
    eta = eta_s(snap)
    if snap.stages:
        parts.append(f"ETA {_clock(eta)}" if eta is not None else "ETA ?")
    return " | ".join(parts)


@dataclass
class Progress:
    """Counts for one run, and the reporter thread that shows them."""

    out: TextIO | None = None  # None: count only, show nothing
    every_s: float = 10.0
    engine_stats: EngineStats | None = None
    tty: bool = False
    _stages: dict[str, StageCount] = field(default_factory=dict)
    _phase: str = ""
    _started: float = field(default_factory=time.monotonic)
    _tokens0: int | None = None
    _t0: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _width: int = 0

    def _update(self, stage: str, **delta: int) -> None:
        with self._lock:
            c = self._stages.get(stage, StageCount())
            self._stages[stage] = StageCount(**{k: getattr(c, k) + delta.get(k, 0) for k in StageCount.__annotations__})

    def planned(self, stage: str, n: int = 1) -> None:
        self._update(stage, total=n)

    def started(self, stage: str) -> None:
        self._update(stage, running=1)

    def stopped(self, stage: str) -> None:
        self._update(stage, running=-1)

    def finished(self, stage: str, cached: bool = False) -> None:
        self._update(stage, done=1, cached=int(cached))

    def phase(self, text: str) -> None:
        with self._lock:
            self._phase = text

    def snapshot(self) -> Snapshot:
        elapsed = time.monotonic() - self._started
        in_flight = rate = None
        stats = self.engine_stats() if self.engine_stats is not None else None
        if stats is not None:
            in_flight, tokens = stats
            if self._tokens0 is None:  # the engine loads mid-run: count from when it is there
                self._tokens0, self._t0 = tokens, time.monotonic()
            since = time.monotonic() - self._t0
            rate = (tokens - self._tokens0) / since if since > 0 else 0.0
        with self._lock:
            stages = tuple(
                (k, StageCount(**{f: max(0, getattr(v, f)) for f in StageCount.__annotations__}))
                for k, v in self._stages.items()
            )
            return Snapshot(elapsed, self._phase, stages, in_flight, rate)

    # -- the display ---------------------------------------------------------------------------------
    def start(self) -> Progress:
        self._started = time.monotonic()
        self._tokens0 = None
        self.snapshot()  # the engine's token count at the start of this run
        if self.out is not None:
            self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        interval = 0.5 if self.tty else self.every_s
        while not self._stop.wait(interval):
            self.show()

    def show(self, final: bool = False) -> None:
        if self.out is None:
            return
        line = render(self.snapshot())
        if self.tty:
            pad = " " * max(0, self._width - len(line))
            self._width = len(line)
            self.out.write(f"\r{line}{pad}" + ("\n" if final else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        self.phase("done")
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            self.show(final=True)


_CURRENT: Progress | None = None


def current() -> Progress:
    """The progress of the run in this process (a counting-only one when no display was set up)."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = Progress()
    return _CURRENT


def install(progress: Progress | None) -> None:
    """Make `progress` the one that shard tasks and the flow of this process report to."""
    global _CURRENT
    _CURRENT = progress


# -- keeping the engine's own output off the terminal ---------------------------------------------------
@contextlib.contextmanager
def output_to_log(log_path: Path) -> Iterator[TextIO]:
    """Point file descriptors 1 and 2 at `log_path` for the block: vLLM's log (its worker processes
    inherit the descriptors), C/C++ warnings, load bars and Prefect's per-task lines all land there.
    Yields a stream to the original stdout, for the progress display."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(1), os.dup(2)
    ui: TextIO = sys.stdout
    if _fd(sys.stdout) == 1:  # a real process: write the display to a copy of the terminal's descriptor
        ui = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield ui
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
        if ui is not sys.stdout:
            ui.close()
            # the CLI prints its summary next; what engines and Prefect write while the process exits
            # (worker shutdown, the temporary server stopping) goes to the log too
            atexit.register(_log_from_here_on, log_path)


def _log_from_here_on(log_path: Path) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _fd(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
