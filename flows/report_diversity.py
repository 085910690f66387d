"""The dataset card's "Diversity" section: distinct-n of instructions, nearest-neighbour similarity
(when semantic dedup ran), and the mix of sources and judge categories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filters.semantic.diversity import distinct_n, mix, nn_stats
from filters.semantic.index import vectors_of
from flows.store import Version

PROJECTION = "embeddings_2d.png"
COLUMNS = ("instruction", "nn_similarity", "generator", "judge_category")


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
    texts = rows.column("instruction").to_pylist()
    lines = ["## Diversity", "", "| figure | value |", "|---|---|"]
    lines += [f"| distinct-{n} (instructions) | {distinct_n(texts, n):.3f} |" for n in (1, 2)]
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
