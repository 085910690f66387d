import multiprocessing as mp
import os
import signal
import time

import pyarrow.parquet as pq
import pytest

from flows.store import DatasetStore, parse_ref
from flows.store.publish import publish_result
from schemas.errors import DatasetError
from tests.flows.helpers import manifest, stage_result


def publish(store: DatasetStore, name: str, texts: list[str]):
    return publish_result(store, name, stage_result(texts), {"k": 1}, "run")


def test_versions_are_numbered_and_immutable(tmp_path):
    store = DatasetStore(tmp_path)
    v1 = publish(store, "demo", ["a?", "b?"])
    before = {p: p.stat().st_mtime_ns for p in v1.path.rglob("*")}
    v2 = publish(store, "demo", ["c?"])
    assert (v1.number, v2.number) == (1, 2)
    assert {p: p.stat().st_mtime_ns for p in v1.path.rglob("*")} == before
    assert store.get("demo").number == 2 and store.get("demo@v1").read().num_rows == 2
    m = v2.manifest()
    assert (m.name, m.version, m.rows, m.rejects) == ("demo", 2, 1, 1)
    assert m.files["rows/part-00000.parquet"].rows == 1 and m.stages[0].rows_in == 2
    assert len(m.files["rows/part-00000.parquet"].sha256) == 64 and m.format == 2


def test_layout_is_plain_parquet(tmp_path):
    v = publish(DatasetStore(tmp_path), "demo", ["a?"])
    assert sorted(p.name for p in v.path.iterdir()) == ["manifest.json", "rejects", "rows"]  # a card only when asked
    assert pq.read_table(v.files("rows")[0]).column("instruction").to_pylist() == ["a?"]
    assert pq.read_table(v.files("rejects")[0]).column("reason").to_pylist() == ["instruction_empty"]


@pytest.mark.parametrize("name", ["../x", "x/y", "Demo", "", "1abc", "a b", "a" * 64, "demo;drop"])
def test_bad_names_are_refused_and_nothing_is_written(tmp_path, name):
    store = DatasetStore(tmp_path / "ds")
    with pytest.raises(DatasetError, match="invalid dataset name"):
        publish(store, name, ["a?"])
    assert not (tmp_path / "ds").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("ref", ["demo@1", "demo@v0", "demo@latest"])
def test_bad_version_refs(ref):
    with pytest.raises(DatasetError, match="NAME@vN"):
        parse_ref(ref)


def test_missing_dataset_and_version_name_what_exists(tmp_path):
    store = DatasetStore(tmp_path)
    publish(store, "demo", ["a?"])
    with pytest.raises(DatasetError, match=r"datasets: demo"):
        store.get("other")
    with pytest.raises(DatasetError, match=r"versions: v1"):
        store.get("demo@v9")


def test_manifest_counts_must_add_up(tmp_path):
    result = stage_result(["a?"])
    bad = result.stats.model_copy(update={"rows_in": 5})
    with pytest.raises(ValueError, match="5 in != 1 kept"):
        manifest(result).model_copy(update={"stages": [bad]}).check()


def _publish_worker(root: str, i: int) -> None:
    publish(DatasetStore(root), "race", [f"row {i} a?", f"row {i} b?"])


def test_concurrent_publishes_lose_nothing_and_duplicate_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_publish_worker, args=(str(tmp_path), i)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    versions = DatasetStore(tmp_path).versions("race")
    assert [v.number for v in versions] == [1, 2, 3, 4, 5, 6]
    all_rows = sorted(r for v in versions for r in v.read().column("instruction").to_pylist())
    assert all_rows == sorted(f"row {i} {x}?" for i in range(6) for x in "ab")
    assert all(v.manifest().version == v.number for v in versions)


def _slow_publisher(root: str) -> None:
    import flows.store.datasets as store_mod

    real = store_mod._write_parts

    def slow(tmp, table_name, table):
        out = real(tmp, table_name, table)
        time.sleep(60)  # killed here: parts written, manifest not
        return out

    store_mod._write_parts = slow
    publish(DatasetStore(root), "crash", ["x?"])


def test_kill_9_mid_publish_leaves_no_version(tmp_path):
    publish(DatasetStore(tmp_path), "crash", ["first?"])
    proc = mp.get_context("spawn").Process(target=_slow_publisher, args=(str(tmp_path),))
    proc.start()
    deadline = time.time() + 60
    while not list((tmp_path / "crash").glob(".tmp-*/rows/*.parquet")) and time.time() < deadline:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    store = DatasetStore(tmp_path)
    assert [v.number for v in store.versions("crash")] == [1]
    assert store.gc_temp("crash") == 1
    assert publish(store, "crash", ["second?"]).number == 2
