"""What checksums, read-only files and the dataset lock cost a publish, and how fast `verify` is.

Publishes ROWS synthetic SFT-like rows REPEAT times and reports the median wall time of a publish,
the part of it spent hashing (SHA-256 of the written files, timed separately on the same files),
the lock acquire/release alone, and `verify_version` on the result.

    .venv/bin/python bench/store_publish.py                    # 200,000 rows x 3
    .venv/bin/python bench/store_publish.py --rows 1000000 --repeat 2
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from flows.store import DatasetStore, file_digest
from flows.store.locks import dataset_lock
from flows.store.verify import verify_version
from schemas.manifest import Manifest, StageStats
from schemas.rows import REJECT_SCHEMA, utc_now

WORDS = ("photosynthesis", "tide", "bee", "river", "press", "dough", "handshake", "plate", "water", "light", "energy")


def table(n: int, seed: int) -> pa.Table:
    rnd = random.Random(seed)
    text = [" ".join(rnd.choices(WORDS, k=40)) for _ in range(n)]
    return pa.table({"id": [f"{seed}-{i}" for i in range(n)], "instruction": text, "response": text[::-1]})


def manifest(n: int) -> Manifest:
    stats = [StageStats(name="bench", rows_in=n, rows_out=n, rejected=0)]
    return Manifest(
        run_id="bench", created_at=utc_now(), code_version="bench", config={}, stages=stats, rows=n, rejects=0
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    store = DatasetStore(Path(tempfile.mkdtemp(prefix="bench-publish-")))
    data = table(args.rows, 0)
    publish_s, hash_s, verify_s, size = [], [], [], 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        v = store.publish("bench", {"rows": data, "rejects": REJECT_SCHEMA.empty_table()}, manifest(args.rows))
        publish_s.append(time.perf_counter() - started)
        files = [v.path / rel for rel in v.manifest().files]
        size = sum(p.stat().st_size for p in files)
        started = time.perf_counter()
        for p in files:
            file_digest(p)
        hash_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert verify_version(v).ok
        verify_s.append(time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(100):
        with dataset_lock(store.root, "other", "bench", wait=0):
            pass
    lock_ms = (time.perf_counter() - started) * 10
    pub, hsh = statistics.median(publish_s), statistics.median(hash_s)
    print(f"rows {args.rows:,}, files {size / 1e6:.1f} MB, {args.repeat} publishes")
    print(f"publish (write + hash + fsync + chmod + rename): {pub * 1000:.0f} ms median")
    print(f"  SHA-256 of the written files alone: {hsh * 1000:.0f} ms ({hsh / pub:.1%} of a publish)")
    print(f"verify_version: {statistics.median(verify_s) * 1000:.0f} ms median")
    print(f"dataset lock acquire+release: {lock_ms:.2f} ms")


if __name__ == "__main__":
    main()
