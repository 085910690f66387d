"""Property-based (hypothesis): whatever dataset name, ref or config document a user gives, the CLI
ends with a message and an exit code, never a traceback, and writes nothing outside its data dir.
Commands stop before any model or Prefect starts: reaching Prefect counts as "the input was valid"."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import flows.cli
from flows.cli import app
from flows.store import DatasetStore
from tests.flows.store.test_datasets import publish

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class ReachedPrefect(Exception):
    """Raised where a valid command would start Prefect (and a model)."""


@pytest.fixture
def sandbox(monkeypatch):
    """base/{data,cwd,home}: the CLI runs in cwd with HOME=home; only data/ may change."""
    base = Path(tempfile.mkdtemp(prefix="fuzz-"))
    for d in ("data", "cwd", "home"):
        (base / d).mkdir()
    publish(DatasetStore(base / "data" / "datasets"), "demo", ["How do tides work near the coast?"])
    monkeypatch.chdir(base / "cwd")
    monkeypatch.setenv("HOME", str(base / "home"))
    monkeypatch.delenv("SYNTHLOOM_DEBUG", raising=False)

    def stop() -> None:
        raise ReachedPrefect

    monkeypatch.setattr(flows.cli, "_prefect_env", stop)
    monkeypatch.setattr("generators.engines.models.resolve_model", lambda *a, **k: None)
    return base


def outside_data(base: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(base):
        rel = Path(dirpath).relative_to(base)
        if rel.parts[:1] == ("data",):
            continue
        found |= {str(rel / n) for n in dirnames + filenames}
    return found


def invoke(base: Path, *args: str) -> None:
    before = outside_data(base)
    res = CliRunner().invoke(app, [*args, "--data-dir", str(base / "data")])
    if res.exception is not None and not isinstance(res.exception, SystemExit | ReachedPrefect):
        raise AssertionError(f"{args!r} raised {res.exception!r}\n{res.output}") from res.exception
    assert res.exit_code in (0, 1, 2), (args, res.exit_code, res.output)
    if res.exit_code == 2:
        assert "error" in res.output.lower() and "Traceback" not in res.output, res.output  # ours or click usage
    assert outside_data(base) == before, f"{args!r} wrote outside the data dir"


NASTY = st.sampled_from(
    [
        "evil\n",
        "../x",
        "demo/../../etc",
        "demo@v1\n",
        "demo@v0",
        "demo@v99999999999999999999",
        ".locks",
        "~",
        "demo@",
        "@v1",
        "con",
        "a" * 64,
        "demo\x00",
        "DEMO",
        "demo@V1",
        " demo",
        "démo",
        "demo@v1@v2",
        "/tmp/x",
        "demo;rm",
    ]
)
NAMES = st.one_of(NASTY, st.text(max_size=70), st.from_regex(r"[a-z][a-z0-9_@v]{0,12}", fullmatch=True))


@SETTINGS
@given(ref=NAMES)
def test_any_ref_is_an_answer_never_a_traceback(sandbox, ref):
    for cmd in (["datasets", "show", ref], ["datasets", "verify", ref]):
        invoke(sandbox, *cmd)
    invoke(sandbox, "export", ref, "--output", str(sandbox / "data" / "out.jsonl"))


@SETTINGS
@given(name=NAMES)
def test_any_output_name_is_checked_before_work(sandbox, name):
    invoke(sandbox, "generate", "magpie", "--dataset", name, "--n", "1")
    invoke(sandbox, "filter", "demo", "--out", name)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["magpie", "from_text", "persona_tasks", "vllm", "openai", "embedded"]),
)
KEYS = st.sampled_from(
    [
        "dataset",
        "engine",
        "sources",
        "kind",
        "magpie",
        "n",
        "turns",
        "response",
        "max_tokens",
        "judge",
        "vllm",
        "max_model_len",
        "backend",
        "model",
        "inputs",
        "dedup",
        "heuristics",
        "shard_size",
        "task_runner",
        "x",
    ]
)
DOCS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12
)
VALID = {"dataset": "fz", "sources": [{"kind": "magpie", "magpie": {"n": 2}}]}


@st.composite
def config_files(draw) -> bytes:
    kind = draw(st.sampled_from(["doc", "mutated", "raw", "binary"]))
    if kind == "doc":
        return yaml.safe_dump(draw(DOCS)).encode()
    if kind == "mutated":
        doc = {**VALID, **draw(st.dictionaries(KEYS, DOCS, max_size=2))}
        return yaml.safe_dump(doc).encode()
    if kind == "raw":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=200))


@SETTINGS
@given(content=config_files())
def test_any_config_document_is_an_answer_never_a_traceback(sandbox, content):
    cfg = sandbox / "data" / "cfg.yaml"
    cfg.write_bytes(content)
    invoke(sandbox, "run", str(cfg))
    invoke(sandbox, "generate", "magpie", "--dataset", "fz", "--config", str(cfg))
    invoke(sandbox, "filter", "demo", "--out", "fz", "--config", str(cfg))
