"""The store survives bad files and tells what changed (issue 12, store items): checksummed,
read-only versions; `datasets verify`; a corrupt manifest or a stray `vN` file breaks nothing else;
a full disk is one error; temp-dir cleanup spares live writers and removes dead ones' litter."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import stat

import pytest

from flows.run.checkpoints import Checkpoints
from flows.store import DatasetStore, check_name, parse_ref
from flows.store.tempdirs import host_tag, temp_name
from flows.store.verify import verify_version
from schemas.errors import CorruptVersionError, DatasetError
from tests.flows.store.test_datasets import publish
from tests.flows.test_cli import run


def flip_byte(path, offset: int = 100) -> None:
    os.chmod(path, 0o644)  # root ignores the mode anyway; anyone else must lift it first
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_manifest_records_size_and_sha256_and_files_are_read_only(tmp_path):
    v = publish(DatasetStore(tmp_path), "demo", ["a?", "b?"])
    files = v.manifest().files
    assert sorted(files) == ["rejects/part-00000.parquet", "rows/part-00000.parquet"]
    for rel, entry in files.items():
        assert entry.size == (v.path / rel).stat().st_size and len(entry.sha256) == 64
        assert stat.S_IMODE((v.path / rel).stat().st_mode) == 0o444
    assert stat.S_IMODE((v.path / "rows").stat().st_mode) == 0o555
    assert stat.S_IMODE((v.path / "manifest.json").stat().st_mode) == 0o444
    assert verify_version(v).ok


def test_verify_names_a_flipped_byte_a_truncated_and_an_extra_file(tmp_path):
    store = DatasetStore(tmp_path / "datasets")
    v1, v2 = publish(store, "demo", ["a?"]), publish(store, "demo", ["b?"])
    flip_byte(v1.path / "rows/part-00000.parquet")
    (v2.path / "rejects/part-00000.parquet").chmod(0o644)
    with open(v2.path / "rejects/part-00000.parquet", "r+b") as fh:
        fh.truncate(10)
    (v2.path / "rows").chmod(0o755)
    (v2.path / "rows/part-00009.parquet").write_bytes(b"PAR1")
    problems = verify_version(v1).problems
    assert len(problems) == 1 and "rows/part-00000.parquet changed: same size, different bytes" in problems[0]
    text = " | ".join(verify_version(v2).problems)
    assert "rejects/part-00000.parquet is truncated: 10 bytes" in text and "rows/part-00009.parquet is not in" in text

    code, out = run("datasets", "verify", "demo@v1", data_dir=tmp_path / "x")  # wrong root: clear error
    assert code == 2 and "no dataset named 'demo'" in out
    code, out = run("datasets", "verify", "demo", data_dir=tmp_path)
    assert code == 1 and "demo@v1: CHANGED" in out and "demo@v2: CHANGED" in out and "fix:" in out


def test_verify_says_ok_and_exit_0_when_intact(tmp_path):
    publish(DatasetStore(tmp_path / "datasets"), "demo", ["a?"])
    code, out = run("datasets", "verify", data_dir=tmp_path)
    assert code == 0 and "demo@v1: ok (2 files" in out


def test_old_manifests_without_checksums_still_load_and_verify_by_size(tmp_path):
    v = publish(DatasetStore(tmp_path), "demo", ["a?"])
    path = v.path / "manifest.json"
    data = json.loads(path.read_text())
    old = {t: [{"path": f"{t}/part-00000.parquet", "rows": 1, "bytes": e.size}] for t, e in _by_table(v).items()}
    data["files"] = old
    path.chmod(0o644)
    path.write_text(json.dumps(data))
    assert v.manifest().files["rows/part-00000.parquet"].sha256 is None
    check = verify_version(v)
    assert check.ok and any("no checksum" in n for n in check.notes)


def _by_table(v):
    return {rel.split("/")[0]: e for rel, e in v.manifest().files.items()}


def test_truncated_latest_manifest_is_reported_and_list_goes_on(tmp_path):
    store = DatasetStore(tmp_path / "datasets")
    publish(store, "demo", ["a?"])
    v2 = publish(store, "demo", ["b?"])
    publish(store, "other", ["c?"])
    (v2.path / "manifest.json").chmod(0o644)
    (v2.path / "manifest.json").write_text('{"format": 2, "name": "de')
    with pytest.raises(CorruptVersionError, match=r"demo@v2 is corrupt: .*datasets verify demo@v2"):
        v2.manifest()
    code, out = run("datasets", "list", data_dir=tmp_path)
    assert code == 0
    assert "warning: demo@v2 is corrupt" in out and "demo: 2 version(s), latest v1" in out and "other: 1" in out
    code, out = run("datasets", "show", "demo@v2", data_dir=tmp_path)
    assert code == 2 and "demo@v2 is corrupt" in out and "Traceback" not in out


def test_a_stray_file_named_like_a_version_does_not_break_publishing(tmp_path):
    store = DatasetStore(tmp_path)
    publish(store, "demo", ["a?"])
    (tmp_path / "demo" / "v2").write_text("not a version")
    assert [v.number for v in store.versions("demo")] == [1]
    assert publish(store, "demo", ["b?"]).number == 3
    assert [v.number for v in store.versions("demo")] == [1, 3]


@pytest.mark.parametrize("name", ["evil\n", "demo\n", "\ndemo", "demo\x00"])
def test_names_match_the_whole_string(tmp_path, name):
    with pytest.raises(DatasetError, match="invalid dataset name"):
        check_name(name)
    with pytest.raises(DatasetError):
        publish(DatasetStore(tmp_path), name, ["a?"])
    assert list(tmp_path.iterdir()) == []


def test_refs_match_the_whole_string():
    with pytest.raises(DatasetError, match="NAME@vN"):
        parse_ref("demo@v1\n")


def test_disk_full_while_publishing_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    import flows.store.datasets as store_mod

    store = DatasetStore(tmp_path)
    publish(store, "demo", ["a?"])

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod.pq, "write_table", full)
    with pytest.raises(DatasetError, match=r"disk full while publishing demo .*nothing was published") as err:
        publish(store, "demo", ["b?"])
    assert "\n" not in str(err.value)
    assert [v.number for v in store.versions("demo")] == [1] and not list((tmp_path / "demo").glob(".tmp-*"))


def _hold_temp_dirs(root: str, ready, stop) -> None:
    os.makedirs(os.path.join(root, "demo", temp_name()))
    os.makedirs(os.path.join(root, ".cache", "demo", "magpie", temp_name()))
    ready.set()
    stop.wait(60)


def test_gc_removes_dead_writers_temp_dirs_but_not_a_live_ones(tmp_path):
    store = DatasetStore(tmp_path)
    v1 = publish(store, "demo", ["a?"])
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    live = ctx.Process(target=_hold_temp_dirs, args=(str(tmp_path), ready, stop))
    live.start()
    assert ready.wait(60)
    dead = ctx.Process(target=_hold_temp_dirs, args=(str(tmp_path), ctx.Event(), ctx.Event()))
    dead.start()
    dead.kill()
    dead.join()
    dead_name = f"{host_tag()}-{dead.pid}-"
    dead_dirs = [tmp_path / "demo" / f".tmp-{dead_name}0", tmp_path / ".cache/demo/magpie" / f".tmp-{dead_name}1"]
    for d in dead_dirs:
        d.mkdir(parents=True, exist_ok=True)
    card_litter = v1.path / f"card.tmp-{dead_name}2"
    card_litter.mkdir()
    live_dirs = [p for p in tmp_path.rglob(f".tmp-*-{live.pid}-*")]
    try:
        assert Checkpoints(tmp_path, "demo").gc_temp() == 1
        publish(store, "demo", ["b?"])  # a publish cleans its dataset's dead litter first
        assert not any(d.exists() for d in [*dead_dirs, card_litter])
        assert len(live_dirs) == 2 and all(d.exists() for d in live_dirs)
    finally:
        stop.set()
        live.join(30)
