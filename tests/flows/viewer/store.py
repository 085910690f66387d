"""A small store for the viewer tests, published with the store API (no model): four datasets.

- `docs_corpus` v1: chunks (chunk_id, doc_id), the parents of `docs` rows.
- `docs` v1: 60 SFT rows (two sources, judge scores, categories, nn similarity; one multi-turn row with
  a code block; one with HTML in its text), parent ids naming `docs_corpus` chunks; rejects of two stages.
- `docs` v2: rows 10.. of v1 plus 5 new ones: 2 near duplicates of removed rows 3 and 7 (instruction edited, same
  reply: new ids) and 3 unlike any; other rejects; parent version docs_corpus@v1.
- `docs_scored` v1: three rows whose parent ids are `docs` v1 row ids; parent version docs@v1.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from flows.report import write_card
from flows.store import DatasetStore, Version
from flows.store.publish import publish_version
from generators.text_to_instructions import AUGMENTED_SCHEMA
from schemas.manifest import StageStats
from schemas.result import Reject, rejects_table
from schemas.rows import SFT_SCHEMA, Message, content_id, to_table, utc_now
from tests.flows.helpers import LINEAGE, sft_rows

CODE_ROW = "How do I reverse a list in Python?"
HTML_ROW = "Why does <script>alert(1)</script> show as text?"
CATEGORIES = ("math", "coding", "writing")


def questions(n: int, start: int = 0) -> list[str]:
    return [f"Question number {i} about tides and honeybees?" for i in range(start, start + n)]


def chunk_ids(k: int) -> tuple[str, str]:
    return content_id("chunk", k), content_id("doc", k % 2)


def corpus_table() -> pa.Table:
    lineage = {**LINEAGE, "source_kind": "from_text", "generator": "text_to_instructions", "created_at": utc_now()}
    records = []
    for k in range(4):
        chunk, doc = chunk_ids(k)
        record = dict(id=chunk, text=f"Chunk {k}: tides rise twice a day.", chunk_id=chunk, doc_id=doc)
        records.append({**lineage, **record, "seed": 0, "doc_source": f"doc{k % 2}.md", "n_pairs": 1})
        records[-1].update(chunk_start=0, chunk_end=30)
    return pa.Table.from_pylist(records, schema=AUGMENTED_SCHEMA)


# v2's edits of v1 rows (edited instruction -> reply of the original): near duplicates, by the dedup stage's measure
EDITED = {
    "Question number 3 about the tides and honeybees?": "Question number 3 about tides and honeybees?",
    "Question number 7, about tides and honey bees?": "Question number 7 about tides and honeybees?",
}
UNLIKE = [
    "What makes sourdough bread rise overnight in a cold kitchen?",
    "Translate 'good morning' into Japanese and explain the politeness level.",
    "Write a haiku about a lighthouse keeper.",
]


def sft_table(texts: list[str]) -> pa.Table:
    rows = []
    for i, row in enumerate(sft_rows(texts)):
        update: dict = {"parent_ids": list(chunk_ids(i % 4)), "source_kind": ("magpie", "from_text")[i % 2]}
        update["generator"] = update["source_kind"]
        if row.instruction in EDITED:
            reply = sft_rows([EDITED[row.instruction]])[0].response
            update["response"] = reply
            update["messages"] = [row.messages[0], Message(role="assistant", content=reply)]
        if row.instruction == CODE_ROW:
            answer = "Use slicing:\n\n```python\nitems[::-1]\n```"
            update["messages"] = [
                Message(role="user", content=CODE_ROW),
                Message(role="assistant", content=answer),
                Message(role="user", content="And in place?"),
                Message(role="assistant", content="Call `items.reverse()`."),
            ]
            update["response"] = answer
        rows.append(row.model_copy(update=update))
    table = to_table(rows, SFT_SCHEMA)
    n = table.num_rows
    table = table.append_column("judge_score", pa.array([1 + (i * 7 % 40) / 10 for i in range(n)], pa.float64()))
    table = table.append_column("judge_category", pa.array([CATEGORIES[i % 3] for i in range(n)], pa.string()))
    return table.append_column("nn_similarity", pa.array([(i * 13 % 100) / 100 for i in range(n)], pa.float64()))


def rejects(stage_reasons: list[tuple[str, str, int]]) -> pa.Table:
    lineage = {**LINEAGE, "created_at": utc_now()}
    out = []
    for stage, reason, count in stage_reasons:
        for i in range(count):
            raw = f"raw text {i} dropped by {stage} for {reason}"
            out.append(Reject(reason, f"detail {i}", raw).to_row(stage, i, {}, lineage))
    return rejects_table(out)


def stats(kept: int, stage_reasons: list[tuple[str, str, int]]) -> list[StageStats]:
    by_stage: dict[str, int] = {}
    for stage, _, count in stage_reasons:
        by_stage[stage] = by_stage.get(stage, 0) + count
    names = list(by_stage) or ["magpie"]
    rows_in = kept + sum(by_stage.values())
    out = []
    for name in names:
        rejected = by_stage.get(name, 0)
        out.append(StageStats(name=name, rows_in=rows_in, rows_out=rows_in - rejected, rejected=rejected))
        rows_in -= rejected
    return out


def publish(store: DatasetStore, name: str, rows: pa.Table, reasons: list, parents: list[str]) -> Version:
    counts = stats(rows.num_rows, reasons)
    return publish_version(store, name, rows, [rejects(reasons)], counts, {"n": 1}, "r", parents, card=write_card)


V1_REASONS = [("magpie", "instruction_truncated", 4), ("heuristics", "judge_score_low", 2)]
V2_REASONS = [("magpie", "instruction_truncated", 1), ("dedup", "near_duplicate", 3)]


def build(root: Path) -> Path:
    store = DatasetStore(root)
    publish(store, "docs_corpus", corpus_table(), [], [])
    texts = [*questions(58), CODE_ROW, HTML_ROW]
    publish(store, "docs", sft_table(texts), V1_REASONS, [])
    publish(store, "docs", sft_table([*texts[10:], *EDITED, *UNLIKE]), V2_REASONS, ["docs_corpus@v1"])
    scored = sft_table(questions(3, start=200))
    parents = pa.array([[content_id(t)] for t in texts[:3]], pa.list_(pa.string()))
    scored = scored.set_column(scored.schema.get_field_index("parent_ids"), "parent_ids", parents)
    publish(store, "docs_scored", scored, [], ["docs@v1"])
    return root
