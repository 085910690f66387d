"""Dedup benchmark: quality on a labeled set, speed against datasketch, peak memory at 10k vs 100k rows.

Labeled set: paragraphs of 30-400 words of the Python standard library shipped with this
interpreter (triple-quoted strings of its .py files, its .rst/.txt files, pydoc's topic help).
Paragraphs already near each other are thinned out first (datasketch LSH candidates on word sets,
dropped at word Jaccard >= 0.4 or rapidfuzz ratio / token_set_ratio >= 0.6), so the only true
duplicates are the ones made here: 40% of the paragraphs get 1-3 perturbed copies, each with 5-15%
of its words edited (adjacent swaps, deletions, insertions, replacements; in a third of the copies
one span of 3-6 words also moves elsewhere), plus punctuation and case noise. Rows are shuffled.
Quality is on pair labels: a pair of rows is a true duplicate when both come from the same
paragraph, a predicted one when the filter puts both in the same cluster (a kept row and the rows
whose reject detail names it).

Speed: the same documents through datasketch (normalized by our normalizer beforehand, untimed;
word n-gram shingles built in Python, `MinHash.generator`, `MinHashLSH` with the same num_perm and
bands x rows, an insertion session, then one query per document) and through ours: the sketch +
LSH candidate step alone, and the whole filter (normalize, exact hash, MinHash, LSH, rapidfuzz
verification, union-find, the rejects table). Documents: the paragraphs, 30% perturbed copies, the
rest word salad drawn from the paragraphs' words.

Memory: peak RSS of a fresh subprocess (VmHWM from /proc/self/status; `ru_maxrss` is not used since
on Linux it carries the parent's RSS across fork + exec) that streams N rows from a Parquet file
through `dedup_batches` in 10k-row batches and drops the results, next to the same process only
reading the batches.

    .venv/bin/python bench/dedup.py                       # quality, speed, memory
    .venv/bin/python bench/dedup.py --sweep               # also the grid used to pick the defaults
    .venv/bin/python bench/dedup.py --quality-only        # only the labeled-set quality table
    .venv/bin/python bench/dedup.py --sweep --write bench/results/dedup.md
"""

from __future__ import annotations

import argparse
import gc
import io
import re
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.dedup import (
    Dedup,
    DedupConfig,
    DedupIndex,
    candidate_pairs,
    components,
    dedup_batches,
    normalize,
    permutations,
    similarities,
    sketch,
)
from schemas.result import StageResult

RERUN = ".venv/bin/python bench/dedup.py --sweep --write bench/results/dedup.md"
CHOICE = """How the defaults were chosen: among the settings within 0.001 of the best F1, word bigrams
with 42 x 3 bands need the fewest candidate pairs (recall 0.9995); unigrams need 3-30x more
candidates, trigrams need 64 x 2 bands (more candidates) to match, 16 x 8 bands miss copies. The
three scorers are within 0.002 F1 of each other at their best thresholds; token_sort_ratio is kept
because it is order-insensitive (swaps and moved spans cost little) without token_set_ratio's flaw
of calling a text a duplicate of any longer text that contains it, and 0.8 rather than 0.75 (same
F1 here) leaves precision headroom: a false duplicate loses data.
"""
_STRINGS = re.compile(r'"""(.*?)"""|\'\'\'(.*?)\'\'\'', re.S)


# ---------------------------------------------------------------- data


def _file_texts(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []
    if path.suffix == ".py":
        return [a or b for a, b in _STRINGS.findall(text)]
    return [text]


def stdlib_paragraphs(min_words: int = 30, max_words: int = 400) -> list[str]:
    """Distinct paragraphs of min_words..max_words words (longer ones are data blobs), in a fixed order."""
    seen: set[str] = set()
    out = []
    for text in _stdlib_texts():
        for para in re.split(r"\n\s*\n", text):
            words = para.split()
            key = " ".join(w.lower() for w in words)
            if min_words <= len(words) <= max_words and key not in seen:
                seen.add(key)
                out.append(" ".join(words))
    return out


def _stdlib_texts() -> Iterator[str]:
    """Triple-quoted strings of the stdlib's .py files, its .rst/.txt files, and pydoc's topic help."""
    from pydoc_data.topics import topics

    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*")):
        if "site-packages" not in path.parts and path.suffix in (".py", ".rst", ".txt") and path.is_file():
            yield from _file_texts(path)
    yield from topics.values()


def clean(paragraphs: list[str]) -> list[str]:
    """Drop paragraphs near an earlier one, judged independently of our filter: candidates from
    datasketch LSH on word sets (Jaccard threshold 0.3), dropped when word Jaccard >= 0.4 or
    rapidfuzz ratio / token_set_ratio >= 0.6 on the normalized text."""
    from datasketch import MinHash, MinHashLSH
    from rapidfuzz import fuzz

    norm = normalize(pa.array(paragraphs)).to_pylist()
    sets = [set(t.split()) for t in norm]
    lsh = MinHashLSH(threshold=0.3, num_perm=64)
    kept = []
    for k, m in enumerate(MinHash.generator(([w.encode() for w in s] for s in sets), num_perm=64)):
        near = any(
            len(sets[k] & sets[j]) / len(sets[k] | sets[j]) >= 0.4
            or max(fuzz.ratio(norm[k], norm[j]), fuzz.token_set_ratio(norm[k], norm[j])) >= 60
            for j in lsh.query(m)
        )
        if not near:
            lsh.insert(k, m)
            kept.append(paragraphs[k])
    return kept


def perturb(words: list[str], rng: np.random.Generator, vocab: list[str]) -> list[str]:
    """Edit 5-15% of the words; a third of the time one span of words also moves."""
    out = list(words)
    edits = max(1, round(rng.uniform(0.05, 0.15) * len(words)))
    if rng.random() < 1 / 3 and len(out) > 12:
        size = int(rng.integers(3, 7))
        start = int(rng.integers(0, len(out) - size))
        span, out = out[start : start + size], out[:start] + out[start + size :]
        at = int(rng.integers(0, len(out)))
        out[at:at] = span
        edits -= min(edits - 1, size // 2)
    for _ in range(edits):
        op, k = rng.integers(0, 4), int(rng.integers(0, len(out) - 1))
        if op == 0:
            out[k], out[k + 1] = out[k + 1], out[k]
        elif op == 1 and len(out) > 5:
            del out[k]
        elif op == 2:
            out.insert(k, vocab[int(rng.integers(len(vocab)))])
        else:
            out[k] = vocab[int(rng.integers(len(vocab)))]
    return _noise(out, rng)


def _noise(words: list[str], rng: np.random.Generator) -> list[str]:
    """Punctuation and case changes (the normalizer should make these free)."""
    out = list(words)
    for _ in range(int(rng.integers(0, 3))):
        k = int(rng.integers(len(out)))
        out[k] = out[k].upper() if rng.random() < 0.5 else out[k] + rng.choice([",", ".", "!", ";"])
    return out


def labeled_set(originals: list[str], seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Originals plus perturbed copies of 40% of them, shuffled; label = index of the original."""
    rng = np.random.default_rng(seed)
    vocab = [w for p in originals[:2000] for w in p.split()]
    texts, labels = list(originals), list(range(len(originals)))
    for k in np.flatnonzero(rng.random(len(originals)) < 0.4):
        for _ in range(int(rng.integers(1, 4))):
            texts.append(" ".join(perturb(originals[k].split(), rng, vocab)))
            labels.append(int(k))
    order = rng.permutation(len(texts))
    return [texts[k] for k in order], np.array(labels)[order]


def synthetic_texts(originals: list[str], n: int, seed: int = 1) -> list[str]:
    """n documents for speed and memory: the originals, 30% perturbed copies, and the rest word
    salad drawn from the originals' word stream (paragraph-like lengths, no shared word runs)."""
    rng = np.random.default_rng(seed)
    vocab = [w for p in originals for w in p.split()]
    lengths = [len(p.split()) for p in originals]
    texts = list(originals[:n])
    while len(texts) < n:
        if rng.random() < 0.3:
            texts.append(" ".join(perturb(originals[int(rng.integers(len(originals)))].split(), rng, vocab)))
        else:
            size = lengths[int(rng.integers(len(lengths)))]
            texts.append(" ".join(vocab[int(i)] for i in rng.integers(0, len(vocab), size)))
    return texts


def table_of(texts: list[str]) -> pa.Table:
    ids = [f"r{k}" for k in range(len(texts))]
    return pa.table({"id": ids, "instruction": texts, "response": [""] * len(texts)})


# ---------------------------------------------------------------- quality


def _pairs_within(sizes: np.ndarray) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pair_scores(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Pair-level precision, recall, F1 of two clusterings (arrays of cluster labels per row)."""
    both = np.unique(np.stack([predicted, truth]), axis=1, return_counts=True)[1]
    hit = _pairs_within(both)
    pred = _pairs_within(np.unique(predicted, return_counts=True)[1])
    true = _pairs_within(np.unique(truth, return_counts=True)[1])
    p, r = hit / max(pred, 1), hit / max(true, 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def run_filter(texts: list[str], cfg: DedupConfig, versions: int = 1) -> list[StageResult]:
    """The filter over all rows at once, or over `versions` consecutive slices published one after
    another: each slice deduped against a DedupIndex of the earlier ones, then its kept rows added."""
    table = table_of(texts)
    if versions == 1:
        return [Dedup(config=cfg)(table)]
    results = []
    step = -(-len(texts) // versions)
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / ".dedup-index"
        for v in range(versions):
            result = Dedup(config=cfg, index_dir=index_dir)(table.slice(v * step, step))
            DedupIndex(index_dir, cfg).add(result.rows, f"v{v + 1}")
            results.append(result)
    return results


def clusters_from(results: list[StageResult], n: int) -> np.ndarray:
    """Cluster label per row: a kept row's own index, or the index of the row its reject detail
    names as kept (or earlier)."""
    labels = np.arange(n)
    for result in results:
        details = result.rejects.column("detail").to_pylist()
        for record, detail in zip(result.rejects.column("record").to_pylist(), details, strict=True):
            row = int(re.search(r'"id": "r(\d+)"', record).group(1))
            labels[row] = int(re.search(r"(?:kept|earlier)=r(\d+)", detail).group(1))
    return labels


def quality(texts: list[str], truth: np.ndarray, cfg: DedupConfig, versions: int = 1) -> dict[str, float]:
    started = time.perf_counter()
    labels = clusters_from(run_filter(texts, cfg, versions), len(texts))
    p, r, f1 = pair_scores(labels, truth)
    return {"precision": p, "recall": r, "f1": f1, "seconds": time.perf_counter() - started}


def sweep(texts: list[str], truth: np.ndarray) -> list[tuple]:
    """Grid over shingles, LSH shape, scorer and threshold, with the filter's own building blocks on
    one batch (what the filter does with the default batch size on this set)."""
    rows = []
    shapes = [(128, 16, 8), (128, 32, 4), (128, 42, 3), (128, 64, 2), (64, 21, 3)]
    table = table_of(texts)
    for ngram in (1, 2, 3):
        for num_perm, bands, r in shapes:
            cfg = DedupConfig(ngram=ngram, num_perm=num_perm, bands=bands, rows=r)
            sk = sketch(table, cfg, permutations(num_perm, cfg.seed))
            i, j, _ = candidate_pairs(sk.keys, cfg.window)
            texts_ = sk.rep_list
            left, right = [texts_[k] for k in i], [texts_[k] for k in j]
            for scorer in ("ratio", "token_sort_ratio", "token_set_ratio"):
                scores = similarities(left, right, cfg.model_copy(update={"scorer": scorer}), cutoff=False)
                for threshold in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85):
                    ok = scores >= threshold
                    rep_label = components(len(sk.reps), i[ok], j[ok])
                    p, rec, f1 = pair_scores(rep_label[sk.rep_of], truth)
                    rows.append((ngram, num_perm, bands, r, scorer, threshold, len(i), p, rec, f1))
    return rows


# ---------------------------------------------------------------- speed


def time_datasketch(norm: list[str], cfg: DedupConfig) -> dict[str, float]:
    from datasketch import MinHash, MinHashLSH

    n = cfg.ngram
    t0 = time.perf_counter()
    shingles = []
    for text in norm:
        words = text.split()
        shingles.append([" ".join(words[i : i + n]).encode() for i in range(max(len(words) - n + 1, 1))])
    t1 = time.perf_counter()
    hashes = list(MinHash.generator(shingles, num_perm=cfg.num_perm))
    t2 = time.perf_counter()
    lsh = MinHashLSH(num_perm=cfg.num_perm, params=(cfg.bands, cfg.rows))
    with lsh.insertion_session() as session:
        for k, m in enumerate(hashes):
            session.insert(k, m, check_duplication=False)
    t3 = time.perf_counter()
    pairs = sum(len(lsh.query(m)) - 1 for m in hashes)
    t4 = time.perf_counter()
    return {
        "shingles": t1 - t0,
        "minhash": t2 - t1,
        "insert": t3 - t2,
        "query": t4 - t3,
        "total": t4 - t0,
        "pairs": pairs / 2,
    }


def time_ours(table: pa.Table, cfg: DedupConfig) -> dict[str, float]:
    t0 = time.perf_counter()
    sk = sketch(table, cfg, permutations(cfg.num_perm, cfg.seed))
    i, _, _ = candidate_pairs(sk.keys, cfg.window)
    t1 = time.perf_counter()
    result = Dedup(config=cfg)(table)
    t2 = time.perf_counter()
    return {"sketch_lsh": t1 - t0, "total": t2 - t1, "pairs": len(i), "rejected": result.stats.rejected}


def speed(texts: list[str], cfg: DedupConfig, repeats: int) -> dict[str, dict[str, float]]:
    table = table_of(texts)
    norm = normalize(pa.array(texts)).to_pylist()
    ours, theirs = [], []
    for _ in range(repeats):
        gc.collect()
        gc.disable()  # both sides; Python's collector otherwise slows datasketch's many small objects ~1.5x
        try:
            theirs.append(time_datasketch(norm, cfg))
            ours.append(time_ours(table, cfg))
        finally:
            gc.enable()
    return {"ours": _best(ours), "datasketch": _best(theirs)}


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each timing's minimum over the runs (the machine is shared: the minimum is the least disturbed)."""
    return {key: min(run[key] for run in runs) for key in runs[0]}


# ---------------------------------------------------------------- memory


def _peak_rss_mib() -> float:
    """Peak RSS of this process image (VmHWM). ru_maxrss is not used: on Linux it keeps the parent's
    RSS at fork time across exec."""
    status = Path("/proc/self/status")
    if status.exists():
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read_text()).group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(path: str, mode: str) -> None:
    """Run in a fresh process: stream the file (10k-row batches) through dedup_batches, or only read
    it (mode "read", the control); print the peak RSS after imports and at the end, and rows kept."""
    source = pq.ParquetFile(path)
    baseline = _peak_rss_mib()
    batches = source.iter_batches(batch_size=10_000)
    kept = 0
    if mode == "read":
        kept = sum(batch.num_rows for batch in batches)
    else:
        for result in dedup_batches(batches, DedupConfig()):
            kept += result.rows.num_rows
    print(f"{baseline:.1f} {_peak_rss_mib():.1f} {kept}")


def _child(path: Path, mode: str) -> tuple[float, float, int]:
    cmd = [sys.executable, __file__, "--memory-child", str(path), mode]
    baseline, peak, kept = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(baseline), float(peak), int(kept)


def memory(originals: list[str], sizes: tuple[int, ...]) -> list[tuple[int, float, float, float, int]]:
    """Per size: (rows, RSS after imports, peak reading only, peak with dedup, rows kept)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"rows-{n}.parquet"
            pq.write_table(table_of(synthetic_texts(originals, n)), path, row_group_size=10_000)
            _, read_peak, _ = _child(path, "read")
            baseline, peak, kept = _child(path, "dedup")
            out.append((n, baseline, read_peak, peak, kept))
    return out


# ---------------------------------------------------------------- report


def _quality_row(name: str, texts: list[str], truth: np.ndarray, cfg: DedupConfig, versions: int = 1) -> None:
    q = quality(texts, truth, cfg, versions)
    print(f"| {name} | {q['precision']:.4f} | {q['recall']:.4f} | {q['f1']:.4f} | {q['seconds']:.2f} |")


def report_quality(originals: list[str], cfg: DedupConfig) -> None:
    texts, truth = labeled_set(originals)
    pairs = _pairs_within(np.unique(truth, return_counts=True)[1])
    print(f"## Quality\n\n{len(texts)} rows from {len(originals)} paragraphs, {pairs} true duplicate pairs; ")
    print("pair-level precision / recall / F1 (a pair is predicted when both rows end in the same cluster).")
    print(f"Defaults: {cfg.scorer} >= {cfg.threshold}, word {cfg.ngram}-grams, num_perm={cfg.num_perm}, ")
    print(f"{cfg.bands} bands x {cfg.rows} rows (LSH threshold {cfg.lsh_threshold:.2f}).\n")
    print("| run | precision | recall | F1 | seconds |\n|---|---|---|---|---|")
    _quality_row("defaults, one batch", texts, truth, cfg)
    _quality_row("defaults, 1000-row batches", texts, truth, cfg.model_copy(update={"batch_rows": 1000}))
    _quality_row("defaults, 3 versions through DedupIndex", texts, truth, cfg, versions=3)
    for seed in (1, 2):
        other_texts, other_truth = labeled_set(originals, seed=seed)
        _quality_row(f"defaults, labeled set with seed {seed}", other_texts, other_truth, cfg)
    for scorer, threshold in (("ratio", 0.7), ("token_set_ratio", 0.9)):
        other = cfg.model_copy(update={"scorer": scorer, "threshold": threshold})
        _quality_row(f"{scorer} >= {threshold}", texts, truth, other)
    print()


def report_sweep(texts: list[str], truth: np.ndarray) -> None:
    rows = sweep(texts, truth)
    print("## Sweep (best threshold per shingles / LSH shape / scorer)\n")
    print("| ngram | num_perm | bands x rows | LSH thr | scorer | best thr | candidates | P | R | F1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    best: dict[tuple, tuple] = {}
    for row in rows:
        key = row[:5]
        if key not in best or row[-1] > best[key][-1]:
            best[key] = row
    for ngram, num_perm, bands, r, scorer, thr, cands, p, rec, f1 in best.values():
        print(
            f"| {ngram} | {num_perm} | {bands}x{r} | {(1 / bands) ** (1 / r):.2f} | {scorer} | {thr} | {cands} | "
            f"{p:.4f} | {rec:.4f} | {f1:.4f} |"
        )
    print()


def report_speed(texts: list[str], cfg: DedupConfig, repeats: int) -> None:
    words = np.mean([len(t.split()) for t in texts])
    s = speed(texts, cfg, repeats)
    ours, ds = s["ours"], s["datasketch"]
    n = len(texts)
    print(
        f"## Speed\n\n{n} documents, {words:.0f} words on average; num_perm={cfg.num_perm}, "
        f"{cfg.bands}x{cfg.rows} bands, word {cfg.ngram}-grams; best of {repeats} (each timing's minimum);"
        " rapidfuzz workers=1; garbage collector paused while timing, for both.\n"
    )
    print("| pipeline | seconds | docs/s |\n|---|---|---|")
    print(f"| datasketch: shingles + MinHash + LSH insert + query | {ds['total']:.2f} | {n / ds['total']:.0f} |")
    sketch_s = ours["sketch_lsh"]
    print(f"| ours: normalize + exact hash + MinHash + LSH candidates | {sketch_s:.2f} | {n / sketch_s:.0f} |")
    print(f"| ours: whole filter (normalize ... rejects table) | {ours['total']:.2f} | {n / ours['total']:.0f} |")
    print(
        f"\ndatasketch breakdown: shingles {ds['shingles']:.2f}s, MinHash {ds['minhash']:.2f}s, "
        f"insert {ds['insert']:.2f}s, query {ds['query']:.2f}s; "
        f"candidate pairs {ds['pairs']:.0f} (ours {ours['pairs']})."
    )
    print(
        f"\nRatio ours / datasketch (docs/s): sketch + LSH {ds['total'] / ours['sketch_lsh']:.1f}x, "
        f"whole filter {ds['total'] / ours['total']:.1f}x.\n"
    )


def report_memory(originals: list[str]) -> None:
    print("## Peak memory\n\nPeak RSS (VmHWM) of a fresh process streaming N rows from Parquet in 10k-row batches")
    print("through `dedup_batches` (defaults), against the same process only reading the batches.\n")
    print("| rows | RSS after imports (MiB) | peak, read only (MiB) | peak, dedup (MiB) | dedup - read (MiB) | kept |")
    print("|---|---|---|---|---|---|")
    results = memory(originals, (10_000, 100_000))
    for n, baseline, read_peak, peak, kept in results:
        print(f"| {n} | {baseline:.0f} | {read_peak:.0f} | {peak:.0f} | {peak - read_peak:.0f} | {kept} |")
    (n1, _, r1, p1, _), (n2, _, r2, p2, _) = results
    per_row = ((p2 - r2) - (p1 - r1)) * 1024 * 1024 / (n2 - n1)
    print(f"\nGrowth of the dedup's own share from {n1} to {n2} rows: {per_row:.0f} bytes per row.\n")


class _Tee(io.TextIOBase):
    def __init__(self, *streams: io.TextIOBase):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    paragraphs = stdlib_paragraphs()
    originals = clean(paragraphs)
    method = __doc__.split("\n\n", 1)[1].split("\n\n    .venv")[0]
    print(f"# Dedup benchmark\n\nRerun: `{RERUN}`\n\n## Method\n\n{method}\n")
    print(f"{len(paragraphs)} stdlib paragraphs, {len(originals)} after thinning out natural near duplicates.\n")
    cfg = DedupConfig()
    report_quality(originals, cfg)
    if args.sweep:
        report_sweep(*labeled_set(originals))
        print(CHOICE)
    if not args.quality_only:
        report_speed(synthetic_texts(originals, args.speed_docs), cfg, args.repeats)
        report_memory(originals)
    print(f"Total bench time {time.perf_counter() - started:.0f}s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", action="store_true", help="also print the grid used to pick the defaults")
    parser.add_argument("--speed-docs", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality-only", action="store_true", help="only the quality table (about 30 s)")
    parser.add_argument("--write", type=Path, help="also write the report (markdown) to this file")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    captured = io.StringIO()
    with redirect_stdout(_Tee(sys.stdout, captured)):
        run(args)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(captured.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    main()
