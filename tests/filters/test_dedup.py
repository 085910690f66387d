from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pyarrow as pa
import pytest

from filters.dedup import (
    Dedup,
    DedupConfig,
    DedupIndex,
    bucket_pairs,
    components,
    dedup_batches,
    normalize_text,
    runs,
)
from filters.dedup.store import SpillTexts
from schemas.errors import ConfigError
from tests.flows.helpers import stage_result

FOX = (
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch "
    "and his children laugh at the sight of the startled hens running across the yard"
)
FOX_EDITED = (  # two adjacent words swapped, one word replaced
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch "
    "and his children smile at sight the of the startled hens running across the yard"
)
DISTINCT = [
    "Explain how a hash table resolves collisions with open addressing and chaining in practice",
    "Write a short poem about autumn leaves falling on a quiet mountain lake at dusk",
    "What are the main causes of inflation and how do central banks try to control it today",
    "Describe the life cycle of a star from its birth in a nebula to a white dwarf or black hole",
    "Give three tips for writing clear commit messages in a large software project with many people",
]


def table(texts: list[str]) -> pa.Table:
    return stage_result(texts, rejected=0).rows


def plain(texts: list[str]) -> pa.Table:
    return pa.table({"id": [f"r{k}" for k in range(len(texts))], "instruction": texts, "response": [""] * len(texts)})


def rejects(result) -> dict[str, tuple[str, str]]:
    """Rejected row id -> (reason, detail)."""
    records = result.rejects.column("record").to_pylist()
    ids = [re.search(r'"id": "([^"]*)"', r).group(1) for r in records]
    pairs = zip(result.rejects["reason"].to_pylist(), result.rejects["detail"].to_pylist(), strict=True)
    return dict(zip(ids, pairs, strict=True))


def check_counts(result) -> None:
    stats = result.stats
    assert stats.name == "dedup"
    assert stats.rows_in == stats.rows_out + stats.rejected
    assert result.rows.num_rows == stats.rows_out and result.rejects.num_rows == stats.rejected


def test_exact_duplicates_after_normalization():
    texts = [
        FOX,
        "  the QUICK brown fox -- jumps over the lazy dog while the farmer watches from the porch, "
        "and his children laugh at the sight of the startled hens running across the yard!!",
        DISTINCT[0],
    ]
    result = Dedup()(plain(texts))
    check_counts(result)
    assert rejects(result) == {"r1": ("exact_duplicate", rejects(result)["r1"][1])}
    assert re.fullmatch(r"cluster=[0-9a-f]{16} kept=r0 similarity=1\.00", rejects(result)["r1"][1])


def test_near_duplicates_found_and_distinct_texts_kept():
    result = Dedup()(table([FOX, *DISTINCT, FOX_EDITED]))
    check_counts(result)
    assert result.stats.rejected == 1
    ((reason, detail),) = rejects(result).values()
    assert reason == "near_duplicate"
    kept_id = result.rows["id"][0].as_py()
    m = re.fullmatch(r"cluster=([0-9a-f]{16}) kept=(\w+) similarity=(0\.\d\d)", detail)
    assert m and m.group(2) == kept_id and 0.8 <= float(m.group(3)) < 1.0


def test_distinct_texts_all_kept():
    result = Dedup()(table(DISTINCT))
    check_counts(result)
    assert result.stats.rejected == 0 and result.rows.num_rows == len(DISTINCT)


def test_representative_is_the_earliest_and_clusters_are_named():
    texts = [FOX_EDITED, DISTINCT[0], FOX, FOX.upper() + "!", DISTINCT[1]]
    result = Dedup()(plain(texts))
    check_counts(result)
    got = rejects(result)
    assert set(got) == {"r2", "r3"}
    assert result.rows["id"].to_pylist() == ["r0", "r1", "r4"]
    clusters = {re.search(r"cluster=(\w+)", d).group(1) for _, d in got.values()}
    assert len(clusters) == 1
    assert all("kept=r0" in d for _, d in got.values())
    assert got["r2"][0] == "near_duplicate" and got["r3"][0] == "near_duplicate"


def test_threshold_is_respected():
    strict = Dedup(config=DedupConfig(threshold=0.99))(plain([FOX, FOX_EDITED]))
    assert strict.stats.rejected == 0
    exact_only = Dedup(config=DedupConfig(near=False))(plain([FOX, FOX_EDITED, FOX.lower()]))
    assert {r: v[0] for r, v in rejects(exact_only).items()} == {"r2": "exact_duplicate"}


def test_empty_table():
    result = Dedup()(table([]))
    check_counts(result)
    assert result.rows.num_rows == 0 and result.rejects.num_rows == 0


def test_rows_with_empty_text_are_kept_and_never_compared():
    texts = ["", FOX, "", "?!  ...", FOX.lower()]
    result = Dedup()(plain(texts))
    check_counts(result)
    assert set(rejects(result)) == {"r4"}
    assert result.rows["id"].to_pylist() == ["r0", "r1", "r2", "r3"]


def test_unicode_text():
    assert normalize_text("Ｃａｆé\u00a0— ÇA  va?") == "café ça va"
    assert normalize_text("日本語です。") == "日 本 語 で す"
    jp = "東京は日本の首都であり、世界で最も人口の多い都市圏の一つです。多くの観光客が毎年訪れます。"
    jp_edit = "東京は日本の首都であり、世界で最も人口の多い都市圏の一つです。多くの旅行者が毎年訪れます。"
    emoji = "I love pizza 🍕 and pasta 🍝 with friends on a sunny afternoon in Napoli by the sea"
    texts = [
        jp,
        "Ünïcödé wörds ärë fïnë tòò, ñoted with many diacritics in this longer sentence here",
        jp_edit,
        emoji,
        "i love pizza and pasta with friends on a sunny afternoon in napoli by the sea 🎉",
        "ＡＢＣ",
    ]
    result = Dedup()(plain(texts))
    check_counts(result)
    got = rejects(result)
    assert got["r2"][0] == "near_duplicate" and "kept=r0" in got["r2"][1]
    assert got["r4"][0] == "exact_duplicate" and "kept=r3" in got["r4"][1]
    assert len(got) == 2


def test_streaming_batches_match_one_batch():
    texts = [FOX, *DISTINCT[:2], FOX_EDITED, DISTINCT[2], FOX.upper(), *DISTINCT[3:], FOX_EDITED]
    one = Dedup()(plain(texts))
    streamed = Dedup(config=DedupConfig(batch_rows=3))(plain(texts))
    check_counts(streamed)
    assert streamed.rows["id"].to_pylist() == one.rows["id"].to_pylist()
    assert rejects(streamed) == rejects(one)
    parts = list(dedup_batches(plain(texts).to_batches(max_chunksize=2), DedupConfig(batch_rows=4)))
    assert [p.stats.rows_in for p in parts] == [4, 4, 1]
    assert sum(p.stats.rejected for p in parts) == one.stats.rejected


def test_text_columns_are_configurable():
    rows = table([FOX, DISTINCT[0]]).append_column("other", pa.array(["same text here", "same text here"]))
    assert Dedup(config=DedupConfig(text_columns=("other",)))(rows).stats.rejected == 1
    assert Dedup(config=DedupConfig(text_columns=("messages",)))(rows).stats.rejected == 0
    with pytest.raises(ConfigError, match="nope"):
        Dedup(config=DedupConfig(text_columns=("nope",)))(rows)


def test_incremental_index_across_versions(tmp_path):
    index_dir = tmp_path / "ds" / ".dedup-index"
    v1 = plain([FOX, DISTINCT[0]])
    first = Dedup(index_dir=index_dir)(v1)
    assert first.stats.rejected == 0
    assert DedupIndex(index_dir).add(first.rows, "v1") == 2
    assert DedupIndex(index_dir).add(first.rows, "v1") == 0  # already indexed

    reloaded = DedupIndex(index_dir)
    assert len(reloaded) == 2 and len(reloaded.segments()) == 1
    v2 = pa.table(
        {
            "id": ["n0", "n1", "n2", "n3"],
            "instruction": [DISTINCT[1], FOX_EDITED, DISTINCT[0], DISTINCT[1]],
            "response": [""] * 4,
        }
    )
    second = Dedup(index_dir=index_dir)(v2)
    check_counts(second)
    got = rejects(second)
    assert got["n1"][0] == "duplicate_of_earlier_version" and "version=v1 earlier=r0" in got["n1"][1]
    assert got["n2"][0] == "duplicate_of_earlier_version" and "earlier=r1" in got["n2"][1]
    assert got["n3"] == ("exact_duplicate", got["n3"][1]) and "kept=n0" in got["n3"][1]
    assert second.rows["id"].to_pylist() == ["n0"]
    assert DedupIndex(index_dir).add(second.rows, "v2") == 1
    names = sorted(p.name for p in index_dir.iterdir())
    assert names == ["lookup", "meta.json", "seg-000001.parquet", "seg-000002.parquet"]
    assert not list(index_dir.rglob(".tmp-*"))


def test_index_refuses_other_sketch_settings(tmp_path):
    DedupIndex(tmp_path).add(plain([FOX]), "v1")
    with pytest.raises(ConfigError, match="ngram"):
        DedupIndex(tmp_path, DedupConfig(ngram=3))
    with pytest.raises(ValueError, match="num_perm"):
        DedupConfig(num_perm=64, bands=42, rows=3)


def test_union_find_and_buckets():
    labels = components(6, np.array([4, 1, 2]), np.array([5, 2, 4]))
    assert labels.tolist() == [0, 1, 1, 3, 1, 1]
    i, j = bucket_pairs(np.array([7, 3, 7, 7, 3, 9], np.uint64), window=1)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 2), (0, 3), (1, 4), (2, 3)]


def test_exact_only_run_against_an_index(tmp_path):
    DedupIndex(tmp_path).add(plain([FOX]), "v1")
    result = Dedup(config=DedupConfig(near=False), index_dir=tmp_path)(plain([FOX_EDITED, FOX.upper()]))
    got = rejects(result)
    assert list(got) == ["r1"] and got["r1"][0] == "duplicate_of_earlier_version"
    assert re.fullmatch(r"version=v1 earlier=r0 cluster=[0-9a-f]{16} similarity=1\.00", got["r1"][1])


def test_one_big_cluster_across_batches_keeps_only_the_first():
    words = FOX.split()
    texts = []
    for k in range(30):
        edited = list(words)
        edited[k % len(words)] = f"word{k}"
        texts.append(" ".join(edited))
    result = Dedup(config=DedupConfig(batch_rows=7))(plain(texts))
    check_counts(result)
    assert result.rows["id"].to_pylist() == ["r0"]
    assert all("kept=r0" in detail for _, detail in rejects(result).values())


# ---------------------------------------------------------------- scale structures: runs, spill, index


def test_merged_runs_equal_one_sorted_run_and_lookups_do_not_depend_on_the_layout():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 50, 300, dtype=np.uint64)  # many equal keys: order among equals matters
    keys = rng.integers(0, 20, (300, 3), dtype=np.uint64)
    whole = runs.build(hashes, keys, 0)
    layered = runs.Runs()
    for lo in range(0, 300, 37):
        layered.append(hashes[lo : lo + 37], keys[lo : lo + 37], lo)
    assert 1 < len(layered.runs) <= 5
    merged = layered.runs[0]
    for run in layered.runs[1:]:
        merged = runs.merge(merged, run)
    for band in range(3):
        assert merged.keys[band].tolist() == whole.keys[band].tolist()
        assert merged.pos[band].tolist() == whole.pos[band].tolist()
    assert merged.exact_pos.tolist() == whole.exact_pos.tolist()
    queries = rng.integers(0, 25, (40, 3), dtype=np.uint64)
    layered = runs.Runs()
    for lo in range(0, 300, 37):
        layered.append(hashes[lo : lo + 37], keys[lo : lo + 37], lo)
    one = runs.Runs([runs.build(hashes, keys, 0)])
    for cap in (1, 4, 100):
        got = sorted(zip(*(a.tolist() for a in layered.band_matches(queries, cap)), strict=True))
        assert got == sorted(zip(*(a.tolist() for a in one.band_matches(queries, cap)), strict=True))
    probe = rng.integers(0, 60, 50, dtype=np.uint64)
    assert layered.exact(probe).tolist() == one.exact(probe).tolist()
    first = {int(h): k for k, h in reversed(list(enumerate(hashes.tolist())))}
    assert one.exact(probe).tolist() == [first.get(int(h), -1) for h in probe]


def test_spilled_texts_read_back_by_position(tmp_path):
    spill = SpillTexts(tmp_path / "t.bin")
    spill.add(pa.array(["héllo wörld", "", "日 本"]).slice(1))
    spill.add(pa.array(["a b c", "x"]))
    assert spill.get(np.array([3, 0, 1, 2])) == ["x", "", "日 本", "a b c"]
    spill.close()


def edits(n: int, seed: int = 0) -> list[str]:
    """n distinct 30-word texts, and one-word edits of them: text k + n is text k with a word changed."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{k}" for k in range(5000)]
    base = [[vocab[i] for i in rng.integers(0, len(vocab), 30)] for _ in range(n)]
    edited = []
    for words in base:
        words = list(words)
        words[int(rng.integers(0, 30))] = "changed"
        edited.append(words)
    return [" ".join(w) for w in base + edited]


def test_near_and_exact_duplicates_across_batches_are_found():
    texts = edits(40)
    texts += [texts[3], texts[45].upper()]  # an exact copy of an original, and of an edit
    result = Dedup(config=DedupConfig(batch_rows=7))(plain(texts))
    check_counts(result)
    got = rejects(result)
    assert result.rows["id"].to_pylist() == [f"r{k}" for k in range(40)]
    assert all(got[f"r{k + 40}"][0] == "near_duplicate" and f"kept=r{k} " in got[f"r{k + 40}"][1] for k in range(40))
    assert got["r80"][0] == "exact_duplicate" and "kept=r3 " in got["r80"][1]
    assert got["r81"][0] == "near_duplicate" and "kept=r5 " in got["r81"][1]  # its exact twin r45 was dropped for r5


def test_streaming_is_deterministic_and_matches_one_batch():
    texts = edits(60, seed=1)
    one = Dedup()(plain(texts))
    for batch_rows in (5, 16, 16):
        streamed = Dedup(config=DedupConfig(batch_rows=batch_rows))(plain(texts))
        assert streamed.rows["id"].to_pylist() == one.rows["id"].to_pylist()
        assert rejects(streamed) == rejects(one)


def test_index_grows_incrementally_and_finds_earlier_versions(tmp_path):
    texts = edits(50, seed=2)
    index_dir = tmp_path / ".dedup-index"
    for v in range(5):  # five versions of ten originals each
        table = plain(texts).slice(10 * v, 10)
        result = Dedup(index_dir=index_dir)(table)
        assert result.stats.rejected == 0
        assert DedupIndex(index_dir).add(result.rows, f"v{v + 1}") == 10
    index = DedupIndex(index_dir)
    assert len(index) == 50 and index.versions() == {f"v{k}" for k in range(1, 6)}
    assert len(index.store.runs.runs) <= 3  # merged as they grow
    late = plain(texts).slice(50, 50)  # the edits of all fifty
    result = Dedup(index_dir=index_dir)(late)
    got = rejects(result)
    assert len(got) == 50 and all(reason == "duplicate_of_earlier_version" for reason, _ in got.values())
    assert f"version=v5 earlier=r{49} " in got["r99"][1] and "version=v1 earlier=r0 " in got["r50"][1]


def test_index_round_trip_and_rebuilt_lookup_give_the_same_verdicts(tmp_path):
    texts = edits(30, seed=3)
    index_dir = tmp_path / "idx"
    DedupIndex(index_dir).add(plain(texts[:20]), "v1")
    DedupIndex(index_dir).add(plain(texts[20:30]), "v2")
    query = plain(texts[30:] + texts[:2])
    before = rejects(Dedup(index_dir=index_dir)(query))
    assert len(before) == 32
    state = (index_dir / "lookup" / "state.json").read_text()
    shutil.rmtree(index_dir / "lookup")  # an index written before the lookup existed, or a lost lookup
    rebuilt = DedupIndex(index_dir)
    assert len(rebuilt) == 30 and rebuilt.versions() == {"v1", "v2"}
    assert rejects(Dedup(index_dir=index_dir)(query)) == before
    assert [s["name"] for s in json.loads(state)["segments"]] == ["seg-000001.parquet", "seg-000002.parquet"]
    (index_dir / "seg-000002.parquet").rename(tmp_path / "aside.parquet")  # a segment the lookup covers is gone
    assert len(DedupIndex(index_dir)) == 20


def test_runs_written_to_disk_equal_runs_sorted_in_memory(tmp_path):
    """The index writes its runs one row (band) at a time from keys kept in per-batch pieces; the
    files must hold exactly what one sorted run in memory holds, across adds and merges."""
    import pyarrow.parquet as pq

    from filters.dedup.runs import build

    texts = edits(40, seed=4)
    cfg = DedupConfig(batch_rows=7)  # several key pieces per add
    index_dir = tmp_path / "idx"
    for lo, hi in ((0, 30), (30, 50), (50, 65), (65, 80)):
        DedupIndex(index_dir, cfg).add(plain(texts[lo:hi]), f"v{lo}")
    index = DedupIndex(index_dir, cfg)
    segments = pq.read_table(sorted(index_dir.glob("seg-*.parquet")), columns=["exact", "bands"])
    hashes = segments.column("exact").to_numpy()
    keys = np.stack(segments.column("bands").to_numpy(zero_copy_only=False))
    assert len(index.store.runs.runs) < 4  # some adds were merged into one run
    for run in index.store.runs.runs:
        span = slice(run.first, run.first + run.size)
        want = build(hashes[span], [keys[span][:3], keys[span][3:]], run.first)  # pieces, as the index builds
        assert np.array_equal(run.exact, want.exact) and np.array_equal(run.exact_pos, want.exact_pos)
        for band in range(cfg.bands):
            assert np.array_equal(run.keys[band], want.keys[band]) and np.array_equal(run.pos[band], want.pos[band])
