import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from flows.catalog import query, training_files
from flows.store import DatasetStore
from flows.train import TrainConfig, _split_last_turn, train
from schemas.config import parse_config
from schemas.errors import ConfigError, DatasetError, SynthloomError
from schemas.manifest import Manifest
from schemas.rows import DPO_SCHEMA, REJECT_SCHEMA, utc_now
from tests.flows.store.test_datasets import publish

pytestmark = pytest.mark.flow  # runs a Prefect flow: gets the session's Prefect server

QUESTIONS = [f"What is {i} plus {i}?" for i in range(6)]


def publish_table(store: DatasetStore, name: str, rows) -> None:
    m = Manifest(run_id="r", created_at=utc_now(), code_version="test", config={}, stages=[], rows=0, rejects=0)
    store.publish(name, {"rows": rows, "rejects": REJECT_SCHEMA.empty_table()}, m)


@pytest.mark.integration
def test_train_pins_the_version_saves_a_checkpoint_and_records_it(tmp_path, embedded_dir):
    store = DatasetStore(tmp_path)
    publish(store, "demo", QUESTIONS)
    cfg = TrainConfig(model=str(embedded_dir), max_steps=2, max_length=128)
    record = train(tmp_path, "demo", cfg, run_id="train-run")

    assert record.dataset == "demo@v1" and record.dataset_run_id == "run" and record.run_id == "train-run"
    assert record.steps == 2 and record.train_rows == 6 and record.trainer.startswith("trl ")
    assert record.final_loss is not None and math.isfinite(record.final_loss) and record.final_loss > 0
    ckpt = tmp_path / ".checkpoints" / f"demo-v1-{record.id[:8]}"
    assert record.checkpoint == str(ckpt.resolve())
    names = {p.name for p in ckpt.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not [p for p in ckpt.parent.iterdir() if p.name.startswith(".tmp-")]

    (path,) = training_files(tmp_path)
    assert json.loads(path.read_text())["checkpoint"] == record.checkpoint
    got = query(tmp_path, "SELECT dataset, checkpoint, steps, config.max_steps FROM trainings").fetchall()
    assert got == [("demo@v1", record.checkpoint, 2, 2)]
    assert query(tmp_path, "SELECT count(*) FROM demo").fetchall() == [(6,)]  # dataset views unaffected

    from transformers import AutoTokenizer

    tok, base = AutoTokenizer.from_pretrained(ckpt), AutoTokenizer.from_pretrained(embedded_dir)
    assert tok.chat_template == base.chat_template and tok.eos_token == "<|im_end|>"


def test_a_table_without_messages_is_refused(tmp_path):
    import pyarrow as pa

    store = DatasetStore(tmp_path)
    publish_table(store, "personas", pa.table({"id": ["1"], "persona": ["a chemist"]}))
    with pytest.raises(DatasetError, match=r"personas@v1.*`messages` column.*'persona'"):
        train(tmp_path, "personas", TrainConfig())
    assert not training_files(tmp_path) and not (tmp_path / ".checkpoints").exists()


def test_a_dpo_table_is_refused_with_the_export_hint(tmp_path):
    publish_table(DatasetStore(tmp_path), "prefs", DPO_SCHEMA.empty_table())
    with pytest.raises(DatasetError, match=r"prefs@v1.*DPO table.*synthloom export prefs@v1"):
        train(tmp_path, "prefs", TrainConfig())


def test_zero_rows_are_refused(tmp_path):
    store = DatasetStore(tmp_path)
    publish(store, "demo", QUESTIONS[:1])
    publish(store, "demo", [])
    with pytest.raises(DatasetError, match=r"demo@v2.*no rows"):
        train(tmp_path, "demo", TrainConfig())


def test_a_non_empty_output_dir_is_refused(tmp_path):
    publish(DatasetStore(tmp_path), "demo", QUESTIONS)
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        train(tmp_path, "demo@v1", TrainConfig(output_dir=out))


def test_missing_trl_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # makes `import trl` raise ImportError
    with pytest.raises(SynthloomError, match=r'pip install -e "\.\[train\]"'):
        train(tmp_path, "demo", TrainConfig())


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="max_step: unknown key"):
        parse_config(TrainConfig, {"max_step": 3}, "train.yaml")
    with pytest.raises(ValueError):
        TrainConfig(lr=1e-4)
    cfg = parse_config(TrainConfig, {"max_steps": 5, "output_dir": "out"}, "train.yaml")
    assert cfg.max_steps == 5 and str(cfg.output_dir) == "out" and cfg.model == "embedded"


def test_the_last_assistant_turn_is_the_completion():
    msgs = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
    ]
    assert _split_last_turn({"messages": msgs}, "x@v1") == {"prompt": msgs[:3], "completion": msgs[3:]}
    with pytest.raises(DatasetError, match="no assistant turn"):
        _split_last_turn({"messages": msgs[:1]}, "x@v1")


def test_importing_the_module_loads_no_training_library():
    code = "import sys, flows.train; print(sorted(m for m in ('torch', 'trl', 'transformers') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).parents[2], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_flow_and_task_are_declared():
    from flows.train import train_flow, train_task

    assert train_flow.name == "synthloom-train" and train_task.name == "train"
