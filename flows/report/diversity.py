"""The dataset card's "Diversity" section: distinct-n of instructions, nearest-neighbour similarity
(when semantic dedup ran), and the mix of sources and judge categories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filters.semantic.diversity import _WORD, mix, nn_stats
from filters.semantic.index import vectors_of
from flows.store import Version

PROJECTION = "embeddings_2d.png"
COLUMNS = ("instruction", "nn_similarity", "generator", "judge_category")


def distinct_share(texts: pa.ChunkedArray, n: int, chunk_rows: int = 50_000) -> float:
    """filters.semantic.diversity.distinct_n in memory that does not hold every n-gram as a tuple (~0.8 GB of
    bigrams at 1M instructions): n-grams are counted by their 64-bit hash, 50k texts at a time."""
    total, seen = 0, []
    for first in range(0, len(texts), chunk_rows):
        hashes = [
            hash(tuple(words[i : i + n]))
            for text in texts.slice(first, chunk_rows).to_pylist()
            for words in (_WORD.findall((text or "").lower()),)
            for i in range(len(words) - n + 1)
        ]
        total += len(hashes)
        seen.append(np.unique(np.fromiter(hashes, np.int64, len(hashes))))
    return len(np.unique(np.concatenate(seen))) / total if total else 0.0


def diversity_section(version: Version, out: Path | None = None) -> list[str]:
    files = version.files("rows")
    if not files:
        return []
    names = set(pq.read_schema(files[0]).names)
    wanted = [c for c in COLUMNS if c in names]
    if "instruction" not in wanted:
        return []
    rows = pq.read_table(version.path / "rows", columns=wanted)
    if not rows.num_rows:
        return []
    texts = rows.column("instruction")
    lines = ["## Diversity", "", "| figure | value |", "|---|---|"]
    lines += [f"| distinct-{n} (instructions) | {distinct_share(texts, n):.3f} |" for n in (1, 2)]
    nn = nn_stats(rows)
    if nn:
        lines += [
            f"| nearest-neighbour cosine, mean / median | {nn['mean']:.3f} / {nn['median']:.3f} |",
            f"| mean nearest-neighbour distance (1 - cosine) | {nn['mean_distance']:.3f} |",
        ]
    for column, label in (("generator", "source"), ("judge_category", "category")):
        shares = mix(rows, column)
        if shares:
            total = sum(c for _, c in shares)
            lines.append(f"| {label} mix | " + ", ".join(f"{v} {c / total:.0%}" for v, c in shares) + " |")
    plot = projection_plot(version, out / PROJECTION) if out is not None else None
    if plot:
        lines += ["", f"![instruction embeddings, 2-D projection]({plot})"]
    return [*lines, ""]


def version_vectors(version: Version) -> tuple[list[str], np.ndarray] | None:
    """(row ids, vectors) of this version from the semantic-dedup index beside it, if it ran."""
    index = version.path.parent / ".semantic-index"
    tables = []
    for seg in sorted(index.glob("seg-*.parquet")):
        t = pq.read_table(seg, filters=[("version", "=", version.ref)])
        if t.num_rows:
            tables.append(t)
    if not tables:
        return None
    t = pa.concat_tables(tables)
    return t.column("id").to_pylist(), vectors_of(t)


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """PCA to two dimensions (numpy SVD of the centred vectors)."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def projection_plot(version: Version, path: Path) -> str | None:
    """Instruction embeddings of this version, projected to 2-D and coloured by source (generator)."""
    found = version_vectors(version)
    if found is None or len(found[0]) < 3:
        return None
    ids, vectors = found
    rows = pq.read_table(version.path / "rows", columns=["id", "generator"])
    source = dict(zip(rows.column("id").to_pylist(), rows.column("generator").to_pylist(), strict=True))
    xy = project_2d(vectors)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    labels = [source.get(i, "?") for i in ids]
    for name in sorted(set(labels)):
        pick = [k for k, lab in enumerate(labels) if lab == name]
        ax.scatter(xy[pick, 0], xy[pick, 1], s=14, alpha=0.7, label=name)
    ax.set_title("instruction embeddings (PCA of the semantic-dedup vectors)")
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.1)
    fig.savefig(path, dpi=100, format="png")
    return path.name
