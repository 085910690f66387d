"""The run's progress display: a pure renderer of counts, the counter the tasks report to, and the
reporter that prints it (one line per interval when the output is not a terminal)."""

from __future__ import annotations

import io
import time

from flows.progress import Progress, Snapshot, StageCount, eta_s, render


def test_render_shows_stages_engine_and_eta():
    snap = Snapshot(
        elapsed_s=65,
        stages=(("magpie", StageCount(total=4, done=2, running=2)), ("judge", StageCount(total=4, done=0))),
        in_flight=24,
        tokens_per_s=95.4,
    )
    line = render(snap)
    assert line == "[1m05s] | magpie 2/4 (2 running) · judge 0/4 | engine 24 in flight, 95 tok/s | ETA 3m15s"


def test_eta_ignores_checkpoint_loads_and_is_unknown_before_any_task_ran():
    cached = Snapshot(10, stages=(("magpie", StageCount(total=4, done=2, cached=2)),))
    assert eta_s(cached) is None and render(cached).endswith("ETA ?")
    half = Snapshot(10, stages=(("magpie", StageCount(total=6, done=4, cached=2)),))
    assert eta_s(half) == 10.0  # 2 ran in 10 s, 2 left
    finished = Snapshot(10, stages=(("magpie", StageCount(total=2, done=2)),))
    assert eta_s(finished) == 0.0


def test_phase_without_stages_and_without_engine_figures():
    assert render(Snapshot(3725, phase="calibrating the judge")) == "[1h02m] | calibrating the judge"


def test_counts_from_tasks_and_engine_rate_since_start():
    tokens = [1000]
    prog = Progress(engine_stats=lambda: (7, tokens[0])).start()
    prog.planned("magpie", 2)
    prog.started("magpie")
    tokens[0] = 1500
    snap = prog.snapshot()
    assert dict(snap.stages)["magpie"] == StageCount(total=2, running=1)
    assert snap.in_flight == 7 and snap.tokens_per_s > 0  # 500 tokens since start, not 1500
    prog.stopped("magpie")
    prog.finished("magpie", cached=True)
    assert dict(prog.snapshot().stages)["magpie"] == StageCount(total=2, done=1, cached=1)


def test_reporter_prints_a_line_per_interval_when_not_a_terminal():
    out = io.StringIO()
    prog = Progress(out=out, every_s=0.05).start()
    prog.planned("magpie")
    time.sleep(0.2)
    prog.finished("magpie")
    prog.close()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and "\r" not in out.getvalue()
    assert "magpie 1/1" in lines[-1] and "ETA 0m00s" in lines[-1]


def test_terminal_updates_in_place():
    out = io.StringIO()
    prog = Progress(out=out, tty=True)
    prog.planned("judge", 3)
    prog.show()
    prog.finished("judge")
    prog.show(final=True)
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
