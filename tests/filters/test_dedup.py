from __future__ import annotations

import re

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
)
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
    assert sorted(p.name for p in index_dir.iterdir()) == ["lookup", "meta.json", "seg-000001.parquet", "seg-000002.parquet"]
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
