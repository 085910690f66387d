"""The diff's data: rows added/removed by id, and the near-duplicate pairs among them (dedup's own machinery)."""

from __future__ import annotations

import pyarrow as pa

from flows.viewer import neardup
from flows.viewer.data import ViewerData
from flows.viewer.diff import diff
from flows.viewer.neardup import match, near_duplicates
from schemas.dedup_config import DedupConfig
from schemas.rows import content_id
from tests.flows.viewer.store import EDITED


def test_edited_rows_pair_with_their_originals_and_the_rest_stay_added_or_removed(store_root):
    d = diff(ViewerData(store_root), ("docs", 1), ("docs", 2))
    pairs = [(p.removed["id"], p.added["id"]) for p in d.near.pairs]
    assert sorted(pairs) == sorted((content_id(old), content_id(new)) for new, old in EDITED.items())
    similarities = [p.similarity for p in d.near.pairs]
    assert similarities == sorted(similarities, reverse=True) and min(similarities) >= DedupConfig().threshold
    assert (d.added_total, d.removed_total, d.kept) == (5, 10, 50)  # by id, as before
    assert (d.purely_added, d.purely_removed, d.near.skipped) == (3, 8, None)
    paired = {i for pair in pairs for i in pair}
    assert len(d.added) == 3 and len(d.removed) == 8 and not paired & {r["id"] for r in d.added + d.removed}
    assert d.near.pairs[0].removed["preview"].startswith("Question number")


def test_above_the_bound_matching_is_skipped_and_said(store_root, monkeypatch):
    monkeypatch.setattr(neardup, "NEAR_MAX", 9)  # 10 rows removed
    d = diff(ViewerData(store_root), ("docs", 1), ("docs", 2))
    assert d.near.pairs == [] and "more than 9 rows" in d.near.skipped
    assert (d.purely_added, d.purely_removed, len(d.removed)) == (5, 10, 10)


def test_same_version_and_unrelated_datasets_have_no_pairs(store_root):
    data = ViewerData(store_root)
    assert near_duplicates(data, ("docs", 1), ("docs", 1)).pairs == []
    assert near_duplicates(data, ("docs_corpus", 1), ("docs", 2)).pairs == []  # corpus text vs questions


def test_matching_is_one_to_one_and_equal_texts_count_one():
    cfg = DedupConfig()
    text = "Explain how tides work, with the moon and the sun, in three short paragraphs please."
    removed = pa.table({"id": ["r0", "r1"], "instruction": [text, text.replace("three", "four")], "response": ["", ""]})
    added = pa.table({"id": ["a0"], "instruction": [text.upper() + "!"], "response": [""]})
    assert match(removed, added, cfg) == [(0, 0, 1.0)]  # equal after normalization; r1 is left unpaired
    unlike = pa.table({"id": ["a1"], "instruction": ["Write a haiku about a lighthouse keeper."], "response": [""]})
    assert match(removed, unlike, cfg) == []
