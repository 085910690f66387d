"""Hostile values in every parameter: a 4xx page (or, for free text, an honest empty answer), never a 500,
and nothing in the store changes."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from flows.viewer import create_app

HOSTILE = [
    "'; DROP TABLE docs; --",
    '" OR 1=1 --',
    "../../../../etc/passwd",
    "..%2F..%2Fmanifest.json",
    "9" * 40,
    "-1",
    "1e309",
    "ünïcødé 💥 \u202e",
    "\x00",
    "a" * 5000,
    "docs_all",
    "versions",
]
# {} is where the value goes. Structural parameters: a bad value is always a 4xx.
STRICT = [
    "/d/{}",
    "/d/{}/v/1",
    "/d/docs/v/{}",
    "/d/docs/v/1/card/{}",
    "/views/{}",
    "/d/docs/v/1?sort={}",
    "/d/docs/v/1?dir={}",
    "/d/docs/v/1?page={}",
    "/d/docs/v/1/rejects?stage=magpie&reason=x&page={}",
    "/views/versions?page={}",
    "/diff?a={}&b=docs@v1",
    "/diff?a=docs@v1&b={}",
    "/lineage/abc?from={}",
]
# Free text: searching for a hostile string is allowed; it must simply find nothing (or a 4xx if too long).
FREE = [
    "/d/docs/v/1?q={}",
    "/d/docs/v/1?source={}",
    "/d/docs/v/1?generator={}",
    "/d/docs/v/1?category={}",
    "/d/docs/v/1/rejects?stage={}&reason=x",
    "/d/docs/v/1/rows/{}",
    "/lineage/{}",
]


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.lstat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), root)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture(scope="module")
def client(store_root: Path):
    before = snapshot(store_root)
    with TestClient(create_app(store_root, {"127.0.0.1:9"}), base_url="http://127.0.0.1:9") as c:
        yield c
    assert snapshot(store_root) == before, "the viewer changed the store"


def url(template: str, value: str) -> str:
    return template.format(quote(value, safe=""))


@pytest.mark.parametrize("template", STRICT)
def test_structural_parameters_refuse_hostile_values(client, template):
    for value in HOSTILE:
        answer = client.get(url(template, value))
        allowed = template == "/views/{}" and value == "versions"
        assert 400 <= answer.status_code < 500 or allowed, (template, value, answer.status_code)
        assert "<html" in answer.text


@pytest.mark.parametrize("template", FREE)
def test_free_text_finds_nothing_and_never_fails(client, template):
    for value in HOSTILE:
        answer = client.get(url(template, value))
        assert answer.status_code in (200, 400, 404), (template, value, answer.status_code)
        if answer.status_code == 200 and "?q=" in template and ("'" in value or '"' in value):
            assert '<span id="total">0</span>' in answer.text


def test_raw_bytes_and_odd_encodings(client):
    for path in ["/d/docs/v/1?q=%ff%fe", "/d/%ff/v/1", "/d/docs/v/1/rows/%c0%af", "/d/docs/v/1?page=%EF%BC%91"]:
        assert client.get(path).status_code < 500, path


def test_writes_are_not_routes(client):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, "/d/docs/v/1").status_code == 405
