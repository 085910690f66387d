"""`synthloom serve` option errors and `synthloom schedules` without deployments (fast: the session's
temporary Prefect server; the scheduler-driven tests are test_schedules_fire/overlap/shutdown)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.flows.test_cli import run

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

PIPE = "dataset: d\nsources:\n  - kind: magpie\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "exactly one schedule"),
        (["--cron", "0 3 * * *", "--every", "60"], "exactly one schedule"),
        (["--every", "60", "--overlap", "stack"], "invalid --overlap 'stack': use queue or skip"),
        (["--every", "60", "--on-stop", "later"], "invalid --on-stop 'later': use cancel or finish"),
    ],
)
def test_serve_option_errors_are_one_line(tmp_path, args, says):
    (tmp_path / "p.yaml").write_text(PIPE)
    code, out = run("serve", str(tmp_path / "p.yaml"), *args, data_dir=tmp_path)
    assert code == 2 and says in out


def schedules(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["schedules", *args])
    return res.exit_code, res.output


def test_schedules_without_deployments_says_how_to_serve():
    code, out = schedules("--name", "nothing-here")
    assert code == 0 and "no synthloom-pipeline deployments" in out and "synthloom serve" in out


def test_schedules_without_a_prefect_server_says_how_to_start_one():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        code, out = schedules()
    assert code == 2 and "prefect server start" in out


def test_serve_with_no_server_answering_says_so(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    (tmp_path / "p.yaml").write_text(PIPE)
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        code, out = run("serve", str(tmp_path / "p.yaml"), "--every", "60", data_dir=tmp_path)
    assert code == 2 and "no Prefect server answers at PREFECT_API_URL=http://127.0.0.1:9/api" in out


def test_cron_and_every_become_prefects_schedules():
    from flows.serving import make_schedule

    cron = make_schedule("0 3 * * *", None, "Europe/Paris")
    assert (cron.cron, cron.timezone) == ("0 3 * * *", "Europe/Paris")
    every = make_schedule(None, 90, "UTC")
    assert every.interval.total_seconds() == 90
