"""Cut each source of a pipeline into shards, the unit of work, caching and resume.

- magpie: `shard_size` conversations; conversation i keeps seed `seed + i` whatever the shard
  size, so a bigger `n` later reuses every shard it shares with the earlier run.
- from_text: `docs_per_shard` documents (chunked inside the shard with the engine's tokenizer).
- persona_tasks: `shard_size` personas.

A shard's key hashes its source kind and generator version, the source config, the engine's
identity, and the shard's own inputs (seeds, document and persona content ids). A run `tag`
(scheduled runs use their scheduled time) moves every seed, so each scheduled run samples new data
while a rerun of the same tag resumes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows.checkpoints import cache_key
from flows.pipeline_config import FromTextSource, MagpieSource, PersonaTasksSource, PipelineConfig
from flows.store import DatasetStore
from generators import magpie, personas, text_to_instructions
from generators.documents import Skipped, read_documents, read_stats
from generators.personas import load_seed_personas
from schemas.manifest import StageStats

GENERATOR_VERSIONS = {
    "magpie": magpie.GENERATOR_VERSION,
    "from_text": text_to_instructions.GENERATOR_VERSION,
    "persona_tasks": personas.GENERATOR_VERSION,
}


@dataclass(frozen=True)
class Shard:
    source_index: int
    label: str  # e.g. "magpie[2/4]"
    key: str
    payload: Any  # MagpieConfig | list[Document] | personas pa.Table
    config: Any = None  # the (tagged) source config the payload runs under


@dataclass(frozen=True)
class ReadReport:
    """Documents a from_text source could not use; they go to the rejects of the published version."""

    source: str
    stats: StageStats
    skipped: list[Skipped]


@dataclass(frozen=True)
class Plan:
    shards: list[Shard]
    reads: list[ReadReport] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # dataset versions read (parents in the manifest)


def tagged_seed(seed: int, tag: str) -> int:
    if not tag:
        return seed
    return int(hashlib.sha256(f"{seed}:{tag}".encode()).hexdigest()[:8], 16)


def engine_identity(cfg: PipelineConfig) -> dict[str, Any]:
    """What about the engine decides outputs (not progress bars, not how many requests are in flight)."""
    return cfg.engine.identity()


def _label(name: str, i: int, of: int) -> str:
    return f"{name}[{i + 1}/{of}]"


def _slices(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def _magpie(src: MagpieSource, i: int, cfg: PipelineConfig, tag: str) -> list[Shard]:
    base = tagged_seed(src.magpie.seed, tag)
    parts = _slices(src.magpie.n, cfg.shard_size)
    shards = []
    for j, (start, n) in enumerate(parts):
        shard_cfg = src.magpie.model_copy(update={"n": n, "seed": base + start})
        key = cache_key("magpie", GENERATOR_VERSIONS["magpie"], shard_cfg.model_dump(mode="json"), engine_identity(cfg))
        shards.append(Shard(i, _label(src.name, j, len(parts)), key, shard_cfg, shard_cfg))
    return shards


def _from_text(src: FromTextSource, i: int, cfg: PipelineConfig, tag: str) -> tuple[list[Shard], ReadReport]:
    t2i = src.text_to_instructions
    t2i = t2i.model_copy(update={"seed": tagged_seed(t2i.seed, tag)})
    docs, skipped = read_documents(list(src.inputs), t2i.read)
    parts = _slices(len(docs), src.docs_per_shard)
    shards = []
    for j, (start, n) in enumerate(parts):
        chunk = docs[start : start + n]
        ident = (GENERATOR_VERSIONS["from_text"], t2i.model_dump(mode="json"), engine_identity(cfg))
        key = cache_key("from_text", *ident, [d.id for d in chunk])
        shards.append(Shard(i, _label(src.name, j, len(parts)), key, chunk, t2i))
    stats = read_stats(docs, skipped).model_copy(update={"name": f"{src.name}:read"})
    return shards, ReadReport(src.name, stats, skipped)


def _personas(src: PersonaTasksSource, root: Path) -> tuple[pa.Table, list[str]]:
    if src.personas == "seeds":
        return (load_seed_personas(src.seed_file) if src.seed_file else load_seed_personas()), []
    version = DatasetStore(root).get(src.personas)
    return version.read(), [version.ref]


def _persona_tasks(src: PersonaTasksSource, i: int, cfg: PipelineConfig, root: Path, tag: str) -> tuple[list, list]:
    table, parents = _personas(src, root)
    if src.limit is not None:
        table = table.slice(0, src.limit)
    tasks = src.persona_tasks.model_copy(update={"seed": tagged_seed(src.persona_tasks.seed, tag)})
    parts = _slices(table.num_rows, cfg.shard_size)
    shards = []
    for j, (start, n) in enumerate(parts):
        chunk = table.slice(start, n)
        ident = (GENERATOR_VERSIONS["persona_tasks"], tasks.model_dump(mode="json"), engine_identity(cfg))
        key = cache_key("persona_tasks", *ident, chunk.column("id").to_pylist())
        shards.append(Shard(i, _label(src.name, j, len(parts)), key, chunk, tasks))
    return shards, parents


def plan_shards(cfg: PipelineConfig, root: Path, tag: str = "") -> Plan:
    """Every source's shards, in config order. Reads documents and personas (no model calls)."""
    shards: list[Shard] = []
    reads: list[ReadReport] = []
    inputs: list[str] = []
    for i, src in enumerate(cfg.sources):
        if isinstance(src, MagpieSource):
            shards += _magpie(src, i, cfg, tag)
        elif isinstance(src, FromTextSource):
            more, report = _from_text(src, i, cfg, tag)
            shards += more
            reads.append(report)
        else:
            more, parents = _persona_tasks(src, i, cfg, root, tag)
            shards += more
            inputs += parents
    return Plan(shards, reads, inputs)
