"""Finished shard x stage results on disk, keyed by a hash of everything that decides them.

Layout: <root>/.cache/<dataset>/<stage>/<key>/{<table>.parquet..., stats.json}. A checkpoint is
written whole into a hidden temp dir (named after its host and pid) and renamed into place, so after
a kill -9 a key either has a complete checkpoint or none, and the next run removes only the temp dirs
of dead writers (a concurrent run's are left alone). The key is the cache key of the Prefect task that made it: the same
inputs, config and stage version give the same key, so a rerun (or a later run that changed only a
downstream stage) loads it instead of calling the model again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flows.store.tempdirs import remove_abandoned, temp_name
from schemas.errors import DatasetError
from schemas.manifest import StageStats

CACHE_DIR = ".cache"


def cache_key(*parts: Any) -> str:
    """sha256 of the parts as canonical JSON (sorted keys); 32 hex chars."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Checkpoint:
    stage: str
    key: str
    path: Path
    stats: StageStats

    def file(self, table: str = "rows") -> Path:
        return self.path / f"{table}.parquet"

    def read(self, table: str = "rows") -> pa.Table:
        return pq.read_table(self.file(table))

    def tables(self) -> list[str]:
        return sorted(p.stem for p in self.path.glob("*.parquet"))


class Checkpoints:
    def __init__(self, root: Path | str, dataset: str):
        self.dir = Path(root) / CACHE_DIR / dataset

    def get(self, stage: str, key: str) -> Checkpoint | None:
        path = self.dir / stage / key
        try:
            stats = StageStats.model_validate_json((path / "stats.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return Checkpoint(stage, key, path, stats)

    def put(self, stage: str, key: str, tables: dict[str, pa.Table], stats: StageStats) -> Checkpoint:
        """Write atomically. If another writer got there first, theirs stands (same key, same content)."""
        final = self.dir / stage / key
        tmp = self.dir / stage / temp_name()
        tmp.mkdir(parents=True)
        try:
            for name, table in tables.items():
                pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
            (tmp / "stats.json").write_text(stats.model_dump_json(indent=2), encoding="utf-8")
            _fsync_all(tmp)
            os.rename(tmp, final)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DatasetError(
                    f"disk full while checkpointing {stage} under {self.dir} ({err.strerror}): finished shards "
                    "are kept; free some space and run the command again to resume"
                ) from None
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        found = self.get(stage, key)
        assert found is not None, f"checkpoint {final} vanished after writing"
        return found

    def gc_temp(self) -> int:
        """Remove temp dirs left by killed writers (never a live process's). Returns how many."""
        return remove_abandoned(list(self.dir.glob("*/.tmp-*"))) if self.dir.is_dir() else 0


def _fsync_all(folder: Path) -> None:
    for p in folder.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
