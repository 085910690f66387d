"""Persona Hub's second persona dedup pass (embedding similarity), wired at the flows level so
generators/ never imports filters/. A fake embedder stands in for MiniLM."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from flows.sources import SourcesConfig, semantic_personas
from schemas.config import parse_config

BASE = np.array([1.0, 0.0, 0.0], np.float32)


class Embedder:
    name = "fake"

    def encode(self, texts):
        near = {"a retired nurse who gardens": BASE, "a gardening retired nurse": np.array([0.97, 0.24, 0.0])}
        return np.stack(
            [near.get(t, np.array([0.0, 0.0, 1.0]) if "pilot" in t else np.array([0.0, 1.0, 0.0])) for t in texts]
        ).astype(np.float32)


def personas(texts: list[str]) -> pa.Table:
    return pa.table({"id": [f"p{i}" for i in range(len(texts))], "persona": texts})


def test_near_personas_are_dropped_with_a_reason_and_the_schema_is_kept():
    cfg = parse_config(SourcesConfig, {"persona_semantic_dedup": {"threshold": 0.9}}, "t")
    table = personas(["a retired nurse who gardens", "a gardening retired nurse", "a young airline pilot"])
    rows, rejects, stages = semantic_personas(cfg, table, [], Embedder())
    assert rows.column("persona").to_pylist() == ["a retired nurse who gardens", "a young airline pilot"]
    assert rows.column_names == table.column_names
    (r,) = rejects[-1].to_pylist()
    assert r["reason"] == "semantic_duplicate" and "kept=p0" in r["detail"]
    assert stages[0].rows_in == 3 and stages[0].rejected == 1


def test_off_by_default():
    table = personas(["a", "b"])
    rows, rejects, stages = semantic_personas(SourcesConfig(), table, [])
    assert rows is table and rejects == [] and stages == []
