"""Dedup settings (`DedupConfig`), shared by the dedup stage (filters/dedup), its persisted index, and
the persona build (generators/personas/), which is why they live below both."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from schemas.config import Frozen

STAGE = "dedup"
NORMALIZATION = "nfkc-lower-cjk-alnum-v1"  # stored in an index's meta; change it when `normalize` changes


class DedupConfig(Frozen):
    """Defaults picked on bench/dedup.py's labeled set (bench/results/dedup.md): word bigrams, 42 bands
    x 3 rows (LSH threshold ~0.29, since a copy with 15% of its words edited keeps only about half of
    its bigrams), verified with token_sort_ratio >= 0.8 (word order does not matter, so swaps and moved
    spans cost little; unlike token_set_ratio, a text is not a duplicate of a longer one containing it)."""

    text_columns: tuple[str, ...] = Field(("instruction", "response"), min_length=1)
    near: bool = Field(True, description="False: exact duplicates only")
    ngram: int = Field(2, ge=1, le=8, description="words per shingle")
    num_perm: int = Field(128, ge=8, le=1024)
    bands: int = Field(42, ge=1)
    rows: int = Field(3, ge=1, description="signature values per band; bands * rows <= num_perm")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="rapidfuzz similarity (0..1) a candidate pair needs")
    scorer: Literal["ratio", "token_sort_ratio", "token_set_ratio"] = "token_sort_ratio"
    seed: int = 0
    batch_rows: int = Field(10_000, ge=1)
    window: int = Field(
        16, ge=1, description="in a bucket, each row is paired with the next `window` rows and the first"
    )
    max_candidates: int = Field(
        32, ge=1, description="earlier rows verified at most per row: those sharing the most bands, then the earliest"
    )
    verify_chars: int = Field(
        10_000, ge=100, description="verification compares the first verify_chars characters (its cost is quadratic)"
    )
    workers: int = Field(1, description="rapidfuzz threads; -1 = all cores")
    spill_dir: Path | None = Field(None, description="where earlier batches' texts spill; None = system temp dir")

    @model_validator(mode="after")
    def _bands_fit(self) -> DedupConfig:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    @property
    def lsh_threshold(self) -> float:
        """Shingle Jaccard at which a pair becomes a candidate with probability about 1/2."""
        return (1.0 / self.bands) ** (1.0 / self.rows)

    def sketch_settings(self) -> dict[str, Any]:
        """What an index's stored sketches depend on: an index only works with the same values."""
        keys = ("text_columns", "ngram", "num_perm", "bands", "rows", "seed")
        return {"normalization": NORMALIZATION, **self.model_dump(mode="json", include=set(keys))}


# Persona Hub's persona dedup: word unigrams, 16 bands x 8 rows, verified at 0.9 (token_sort_ratio).
PERSONA_DEDUP = DedupConfig(
    text_columns=("persona",), ngram=1, num_perm=128, bands=16, rows=8, threshold=0.9, scorer="token_sort_ratio"
)
