"""Small builders for store/catalog tests."""

from __future__ import annotations

import re

from schemas.manifest import Manifest, StageStats
from schemas.result import Reject, StageResult, rejects_table
from schemas.rows import SFT_SCHEMA, Message, SftRow, content_id, to_table, utc_now

LINEAGE = dict(
    source_kind="magpie",
    generator="magpie",
    generator_version="1",
    model_id="scripted",
    template_name="t",
    template_hash="h",
    sampling="{}",
    run_id="r",
    parent_ids=[],
)


def answer(question: str) -> str:
    """A reply that answers rather than repeats the question (an echo is junk the filters drop)."""
    key = re.sub(r"\W+", "", question.lower())  # texts that differ only in spacing/punctuation: the same reply
    return f"Good question. In short, it depends on a few factors, which I explain here (note {content_id(key)[:8]})."


def sft_rows(texts: list[str]) -> list[SftRow]:
    rows = []
    for t in texts:
        reply = answer(t)
        msgs = [Message(role="user", content=t), Message(role="assistant", content=reply)]
        rows.append(
            SftRow(
                id=content_id(t),
                messages=msgs,
                instruction=t,
                response=reply,
                prompt_tokens=1,
                completion_tokens=1,
                created_at=utc_now(),
                seed=0,
                **LINEAGE,
            )
        )
    return rows


def stage_result(texts: list[str], rejected: int = 1) -> StageResult:
    lineage = {**LINEAGE, "created_at": utc_now()}
    rejects = [Reject("instruction_empty", "d", f"raw{i}").to_row("magpie", i, {}, lineage) for i in range(rejected)]
    stats = StageStats(name="magpie", rows_in=len(texts) + rejected, rows_out=len(texts), rejected=rejected)
    return StageResult(to_table(sft_rows(texts), SFT_SCHEMA), rejects_table(rejects), stats)


def manifest(result: StageResult) -> Manifest:
    return Manifest(
        run_id="r",
        created_at=utc_now(),
        code_version="test",
        config={},
        stages=[result.stats],
        rows=result.rows.num_rows,
        rejects=result.rejects.num_rows,
    )
