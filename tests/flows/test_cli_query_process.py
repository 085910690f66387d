"""`synthloom query` as a real process: it answers without importing pandas (the import hook in
flows/cli.main keeps a sub-second command from paying for it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flows.publish import publish_version
from flows.store import DatasetStore
from tests.flows.helpers import stage_result


def test_query_runs_as_a_process_without_pandas(tmp_path):
    r = stage_result(["What is the capital of France and why?", "How do plants grow in the winter months?"])
    publish_version(DatasetStore(tmp_path / "datasets"), "demo", r.rows, [r.rejects], [r.stats], {}, "r", [])
    exe = Path(sys.executable).with_name("synthloom")
    sql = "SELECT version, count(*) AS n FROM demo_all GROUP BY 1"
    out = subprocess.run(
        [str(exe), "query", sql, "--format", "json", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert [json.loads(line) for line in out.stdout.splitlines()] == [{"version": 1, "n": 2}]
    probe = (
        "import sys\nfrom flows.cli import main\n"
        f"sys.argv = ['synthloom', 'query', 'SELECT count(*) FROM demo', '--data-dir', {str(tmp_path)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pandas loaded' if sys.modules.get('pandas') else 'no pandas', file=sys.stderr)"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert ran.stderr.strip().endswith("no pandas"), ran.stderr
