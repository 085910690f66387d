"""The card's Diversity section draws a 2-D projection of the version's instruction embeddings,
coloured by source, when semantic dedup stored them; without them there is no plot and no error."""

from __future__ import annotations

import numpy as np

from filters.semantic.config import SemanticDedupConfig
from filters.semantic.index import SemanticIndex
from flows.report import write_card
from flows.report.diversity import project_2d
from flows.store import DatasetStore
from flows.store.publish import publish_version
from tests.flows.helpers import stage_result

TEXTS = [
    "How do tides work along the coast?",
    "What makes bread rise in the oven?",
    "Why do leaves change colour in autumn?",
    "How does a compiler turn code into machine instructions?",
]


def publish(tmp_path):
    r = stage_result(TEXTS)
    return publish_version(DatasetStore(tmp_path), "div", r.rows, [r.rejects], [r.stats], {}, "r", [])


def test_projection_plot_from_the_semantic_index(tmp_path):
    v = publish(tmp_path)
    ids = v.read().column("id").to_pylist()
    vectors = np.random.default_rng(0).normal(size=(len(ids), 8)).astype(np.float32)
    SemanticIndex(v.path.parent / ".semantic-index", SemanticDedupConfig(), "fake").add(ids, vectors, v.ref)
    card = write_card(v)
    assert "![instruction embeddings, 2-D projection](embeddings_2d.png)" in card.read_text()
    assert (card.parent / "embeddings_2d.png").read_bytes()[:4] == b"\x89PNG"


def test_no_index_no_plot(tmp_path):
    card = write_card(publish(tmp_path))
    assert "## Diversity" in card.read_text() and "embeddings_2d.png" not in card.read_text()


def test_project_2d_keeps_the_main_spread():
    pts = np.array([[0, 0, 0], [10, 0, 0], [0, 1, 0], [10, 1, 0]], np.float32)
    xy = project_2d(pts)
    assert xy.shape == (4, 2) and abs(xy[1, 0] - xy[0, 0]) > 5
