"""The viewer without a browser: the command, Host rules, Markdown, an empty store, a store that grows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from flows.store import DatasetStore
from flows.viewer import create_app
from flows.viewer.render import card_html, markdown
from flows.viewer.server import allowed_hosts
from tests.flows.store.test_datasets import publish

REPO = Path(__file__).resolve().parents[3]


def client(root: Path) -> TestClient:
    return TestClient(create_app(root, {"127.0.0.1:9"}), base_url="http://127.0.0.1:9")


def test_the_command_prints_its_url_and_serves(store_root):
    data_dir = store_root.parent  # the command takes --data-dir, the store is its datasets/
    cmd = [sys.executable, "-m", "flows.cli", "view", "--port", "0", "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("synthloom view: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "docs_corpus" in page.text
    finally:
        proc.terminate()
        proc.wait(10)


def test_allowed_hosts_are_the_bound_address():
    assert allowed_hosts("127.0.0.1", 8765) == {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
    assert allowed_hosts("192.168.1.5", 80) == {"192.168.1.5:80"}
    assert allowed_hosts("::1", 81) >= {"[::1]:81", "localhost:81"}


def test_markdown_escapes_html_and_loads_no_images():
    html = markdown("<img src=x onerror=alert(1)> ![p](http://elsewhere/p.png)\n\n```py\nx < 1\n```")
    assert "<img" not in html and "&lt;img" in html
    assert '<code class="language-py">x &lt; 1' in html


def test_card_images_point_at_the_viewer_and_other_links_go_nowhere():
    text = "![plot](lengths.png) ![bad](../../secret.png) [m](../manifest.json) [f](rows/part-0.parquet)"
    html = card_html(text, "/d/demo/v/1/card")
    assert 'src="/d/demo/v/1/card/lengths.png"' in html and 'src=""' in html
    assert 'href="/d/demo/v/1/manifest"' in html and 'href="#"' in html


def test_an_empty_store_says_how_to_make_data(tmp_path):
    with client(tmp_path) as c:
        page = c.get("/")
    assert page.status_code == 200 and "No published dataset yet" in page.text


def test_a_version_published_while_it_runs_shows_up(tmp_path):
    store = DatasetStore(tmp_path)
    publish(store, "demo", ["a?"])
    with client(tmp_path) as c:
        assert c.get("/d/demo/v/2").status_code == 404
        publish(store, "demo", ["b?", "c?"])
        page = c.get("/d/demo/v/2")
        assert page.status_code == 200 and '<span id="total">2</span>' in page.text
        assert c.get("/d/demo/v/1/card").status_code == 200


def test_help_has_an_example_and_a_taken_port_is_one_line(tmp_path):
    import socket

    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    assert "Example:" in runner.invoke(app, ["view", "--help"]).output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        res = runner.invoke(app, ["view", "--port", port, "--data-dir", str(tmp_path)])
    assert res.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in res.output
