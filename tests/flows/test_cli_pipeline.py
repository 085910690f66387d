"""`synthloom run`: bad configs fail before any work; a dead OpenAI-compatible server fails the run
with its URL named and nothing published, and the finished shards stay for the next run."""

from __future__ import annotations

import pytest

from flows.store import DatasetStore
from tests.flows.test_cli import run
from tests.generators.engines.test_openai_compat import free_port

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server


def test_misspelled_pipeline_key_names_its_path(tmp_path):
    (tmp_path / "p.yaml").write_text("dataset: d\nsources:\n  - kind: magpie\n    magpie: {nn: 3}\n")
    code, out = run("run", str(tmp_path / "p.yaml"), data_dir=tmp_path / "d")
    assert code == 2 and "sources.0.magpie.nn: unknown key" in out
    assert not (tmp_path / "d").exists()


def test_unknown_source_kind_lists_the_known_ones(tmp_path):
    (tmp_path / "p.yaml").write_text("dataset: d\nsources:\n  - kind: magic\n")
    code, out = run("run", str(tmp_path / "p.yaml"), data_dir=tmp_path / "d")
    assert code == 2 and "'magpie', 'from_text', 'persona_tasks'" in out


def test_missing_pipeline_file(tmp_path):
    code, out = run("run", str(tmp_path / "nope.yaml"), data_dir=tmp_path)
    assert code == 2 and "config file not found" in out


def test_bad_cron_is_refused_before_serving(tmp_path):
    (tmp_path / "p.yaml").write_text("dataset: d\nsources:\n  - kind: magpie\n")
    code, out = run("serve", str(tmp_path / "p.yaml"), "--cron", "every night", data_dir=tmp_path)
    assert code == 2 and "invalid --cron 'every night'" in out


@pytest.mark.integration  # needs the embedded tokenizer (for the chat template), not the model
def test_dead_server_fails_the_run_and_publishes_nothing(tmp_path, embedded_dir):
    url = f"http://127.0.0.1:{free_port()}/v1"
    (tmp_path / "p.yaml").write_text(
        "dataset: remote\nshard_size: 2\nsources:\n  - kind: magpie\n    magpie: {n: 4}\n"
        f"engine:\n  backend: openai\n  model: m\n  openai: {{base_url: '{url}', tokenizer: embedded,"
        " max_retries: 1, backoff_s: 0.01, timeout_s: 5}\n"
    )
    code, out = run("run", str(tmp_path / "p.yaml"), data_dir=tmp_path)
    assert code == 2 and url in out and "Is it running" in out
    assert DatasetStore(tmp_path / "datasets").versions("remote") == []


def test_train_refuses_a_table_without_messages_before_loading_a_model(tmp_path):
    import pyarrow as pa

    from flows.store.publish import publish_version
    from schemas.manifest import StageStats

    store = DatasetStore(tmp_path / "datasets")
    rows = pa.table({"id": ["a"], "persona": ["A beekeeper who writes field notes."]})
    publish_version(store, "people", rows, [], [StageStats(name="s", rows_in=1, rows_out=1, rejected=0)], {}, "r")
    code, out = run("train", "people@v1", "--steps", "1", data_dir=tmp_path)
    assert code == 2 and "people@v1" in out and "messages" in out


def test_serve_without_a_prefect_server_says_how_to_start_one(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    (tmp_path / "p.yaml").write_text("dataset: d\nsources:\n  - kind: magpie\n")
    with temporary_settings(updates={PREFECT_API_URL: None}):
        code, out = run("serve", str(tmp_path / "p.yaml"), "--cron", "0 3 * * *", data_dir=tmp_path)
    assert code == 2 and "prefect server start" in out and "PREFECT_API_URL" in out
