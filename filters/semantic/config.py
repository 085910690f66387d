"""Semantic dedup settings (`SemanticDedupConfig`)."""

from __future__ import annotations

from pydantic import Field

from schemas.config import Frozen

STAGE = "semantic_dedup"
NN_COLUMN = "nn_similarity"


class SemanticDedupConfig(Frozen):
    """Defaults picked on bench/semantic_dedup.py's paraphrase set (BENCHMARKS.md, "Semantic dedup")."""

    model: str = Field("all-minilm-l6-v2", description="'all-minilm-l6-v2' (shipped wheel) or a local model folder")
    text_column: str = Field("instruction", description="the column compared (a persona column works too)")
    threshold: float = Field(0.80, gt=0.0, le=1.0, description="cosine similarity at which a row is a duplicate")
    batch_rows: int = Field(1024, ge=1, description="rows embedded and compared per block")
    max_chars: int = Field(2000, ge=16, description="texts are cut to this many characters before embedding")
