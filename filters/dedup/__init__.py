"""Exact and near-duplicate removal (stage "dedup"), streaming, and incremental across published versions.

    result = Dedup()(table)                                  # -> StageResult
    result = Dedup(index_dir=ds_dir / ".dedup-index")(table)  # also against earlier versions
    DedupIndex(ds_dir / ".dedup-index").add(published_rows, "v3")  # after publish

What is compared: per row, `text_columns` (default instruction + response; a list-of-messages column
contributes its `content`s) joined by a newline, then normalized (`normalize`): Unicode NFKC,
lowercase, each Han / Hiragana / Katakana / Thai character made a word of its own (those scripts
do not separate words with spaces), every run of characters that are not letters, digits or
combining marks (punctuation, symbols, '_', whitespace) replaced by one space, trimmed.

Exact: a 64-bit BLAKE2b of the normalized text; equal hashes are duplicates (no further check).
Near: MinHash over word n-gram shingles (numpy, `num_perm` affine permutations of a 32-bit shingle
hash), LSH with `bands` x `rows` (`DedupConfig.lsh_threshold` is the implied Jaccard threshold).
Rows sharing a band key are candidate pairs; each candidate pair is verified with rapidfuzz
(`scorer` on the normalized texts >= `threshold`); verified pairs are joined by union-find into
clusters and the earliest row of each cluster is kept. A dropped row's detail names the cluster
(the 64-bit hash of the kept row's normalized text, hex), the kept row's id and the similarity of
the dropped row to the kept row (it may be below the threshold when the row joined the cluster
through another member).

Rows whose normalized text is empty are kept and never compared: there is nothing to compare, and
empty rows are the heuristics' business.

Streaming, linear in rows: input is processed in record batches (`batch_rows`). Within a batch,
candidates come from sorting each band's keys (`bucket_pairs`). Against earlier batches and
earlier versions, a batch's band keys are looked up in sorted runs of the stored rows' keys
(`runs.py`: binary search with sorted queries, at most log2(rows / batch) runs, merged linearly),
and at most `max_candidates` earlier rows are verified per row, so a batch costs about the same
whether ten thousand or ten million rows came before it (log factors aside).
Rows of earlier batches stay in memory only as sketches (sorted exact hash and band keys with
positions, cluster root, id: about 550 bytes a row with the default 42 bands; signatures are not
kept); their normalized texts are appended to one spill file and read back one by one, only for
candidate pairs. The one difference from deduping the whole table at once: a kept row of an
earlier batch is never dropped later, even if a later row links its cluster to an older one.

Incremental: `DedupIndex` (`index.py`) persists, for every published row, its id, version label,
exact hash, band keys and normalized text, plus a derived lookup (sorted runs and an
uncompressed rows file per version, memory-mapped, so opening reads nothing but a small state
file). Verification against earlier versions uses the stored normalized text, with the same
scorer and threshold as within a run, so a verdict does not depend on which version a row arrived
in. New rows are checked against the index first (reason `duplicate_of_earlier_version`, detail
naming the earlier row and its version), then against each other.
"""

from filters.dedup.batches import batches_of
from filters.dedup.index import DedupIndex
from filters.dedup.sketches import (
    band_keys,
    bucket_pairs,
    candidate_pairs,
    components,
    exact_hashes,
    minhash,
    permutations,
    row_texts,
    shingle_hashes,
    similarities,
    sketch,
    string_hashes,
)
from filters.dedup.stage import Dedup, combine, dedup_batches
from schemas.dedup_config import NORMALIZATION, STAGE, DedupConfig
from schemas.text import normalize, normalize_text

__all__ = [
    "NORMALIZATION",
    "STAGE",
    "Dedup",
    "DedupConfig",
    "DedupIndex",
    "band_keys",
    "batches_of",
    "bucket_pairs",
    "candidate_pairs",
    "combine",
    "components",
    "dedup_batches",
    "exact_hashes",
    "minhash",
    "normalize",
    "normalize_text",
    "permutations",
    "row_texts",
    "shingle_hashes",
    "similarities",
    "sketch",
    "string_hashes",
]
