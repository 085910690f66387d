"""Benchmark decontamination: drop rows that contain text from a benchmark's test set.

    Decontaminate(config=DecontamConfig(sources=("data/bench/gsm8k_test.jsonl",)))(table) -> StageResult

Rules
- Text is normalized the same way on both sides, in pyarrow.compute: Unicode NFKC, lowercase, and
  words are runs of letters, digits, combining marks and underscores (punctuation is dropped and
  "don't" is "don t"). A `messages` column (list of {role, content}) counts as its contents joined.
- A benchmark item is indexed by the word n-grams (default n=13, as in GPT-3's decontamination) of each
  of its text fields separately (n-grams never span two fields). A field shorter than n words but with
  at least `short_item_min_words` is indexed whole, as one shorter n-gram; shorter fields are ignored.
- A row is rejected (`benchmark_contamination`) when any n-gram of any of its `text_columns` is in
  the index. The detail names the benchmark, the item id and the matching words. The first text
  column (in config order) with a match, and the first match in it, is reported.
- Boilerplate: an n-gram found in more than `max_doc_freq` of one benchmark's items (a fraction when
  < 1, else an item count; never less than 2 items) is an instruction template ("answer the following
  question ... choose the correct option") and is dropped from the index, for every benchmark, so that
  rows sharing only a template are kept.
- synthloom's own eval suite (`synthloom eval`, flows/evals/suite/) is indexed with the configured
  sources by default (`eval_suite: false` leaves it out), so rows that copy an eval item are rejected
  wherever decontamination runs.

Index: each n-gram is stored as a 64-bit hash (word hashes from blake2b, combined per position with
fixed random multipliers, then a splitmix64 finish), sorted, with the benchmark and item of its first
occurrence: 14 bytes per distinct n-gram plus the benchmark vocabulary. Row words not in the
benchmark vocabulary can't be part of a match, so their n-grams are never hashed or looked up.

Sources (`BenchmarkSource`, or just a path): `.jsonl` / `.json` (objects; text from `text_fields`,
by default whichever of question, prompt, input, text, problem, answer, solution, choices, options
are present; lists and nested objects contribute all their strings), `.parquet`, `.csv`, `.txt`
(one item per line), or a folder: a `datasets` `save_to_disk` folder or a folder of parquet files.
The item id is the first of id, idx, task_id, question_id, uid present, else the line or row number.
Files that are missing, binary, not UTF-8 or malformed raise DatasetError naming the file and line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, field_validator, model_validator

from filters.base import split_rows
from schemas.config import Frozen
from schemas.errors import DatasetError
from schemas.result import StageResult
from schemas.stage import StageContext

STAGE = "decontaminate"
_MAX_NGRAM = 64
DEFAULT_TEXT_FIELDS = ("question", "prompt", "input", "text", "problem", "answer", "solution", "choices", "options")
DEFAULT_ID_FIELDS = ("id", "idx", "task_id", "question_id", "uid")
_HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


class BenchmarkSource(Frozen):
    path: Path
    name: str | None = Field(None, description="benchmark name in reject details; default: the file/folder stem")
    text_fields: tuple[str, ...] | None = Field(None, description="None: those of DEFAULT_TEXT_FIELDS present")
    id_field: str | None = Field(None, description="None: first of DEFAULT_ID_FIELDS present, else line/row")

    @property
    def benchmark(self) -> str:
        return self.name or self.path.stem


class DecontamConfig(Frozen):
    ngram: int = Field(13, ge=3, le=_MAX_NGRAM)
    sources: tuple[BenchmarkSource, ...] = ()
    text_columns: tuple[str, ...] = Field(("instruction", "response"), min_length=1)
    max_doc_freq: float = Field(0.05, gt=0, description="< 1: share of a benchmark's items; >= 1: item count")
    short_item_min_words: int | None = Field(8, ge=3, description="index shorter fields whole; None: skip them")
    eval_suite: bool = Field(True, description="also index synthloom's own eval suite (flows/evals/suite/)")

    @field_validator("sources", mode="before")
    @classmethod
    def _paths_are_sources(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            value = (value,)
        return tuple({"path": v} if isinstance(v, str | Path) else v for v in value)

    @model_validator(mode="after")
    def _unique_names(self) -> DecontamConfig:
        seen: dict[str, Path] = {}
        for s in self.sources:
            if s.benchmark in seen:
                raise ValueError(f"two benchmarks named {s.benchmark!r} ({seen[s.benchmark]}, {s.path}); set name=")
            seen[s.benchmark] = s.path
        return self

    @property
    def benchmarks(self) -> tuple[BenchmarkSource, ...]:
        """`sources`, plus the shipped eval suite unless eval_suite is false."""
        return self.sources + (eval_suite_sources() if self.eval_suite else ())


# synthloom's eval suite (flows/evals/suite.py reads the same files): found by path, not imported, so
# filters/ stays below flows/. tests/flows/evals/test_suite.py checks the two agree.
EVAL_SUITE_DIR = Path(__file__).resolve().parents[1] / "flows" / "evals" / "suite"
EVAL_SUITE = "core"


def eval_suite_sources() -> tuple[BenchmarkSource, ...]:
    """The suite `synthloom eval` scores (instructions and reference answers, if_pass prompts): a training
    row that copies it would inflate the eval of the version it lands in."""
    ref, instruct = EVAL_SUITE_DIR / f"{EVAL_SUITE}_ref.jsonl", EVAL_SUITE_DIR / f"{EVAL_SUITE}_if.jsonl"
    return (
        BenchmarkSource(path=ref, name="synthloom_eval_ref", text_fields=("instruction", "reference")),
        BenchmarkSource(path=instruct, name="synthloom_eval_if", text_fields=("prompt",)),
    )


# -- text normalization and hashing ------------------------------------------------------------

_NON_WORD = r"[^\pL\pN\pM_]+"  # RE2: anything but letters, digits, combining marks, underscore
# odd 64-bit multipliers, one per position in the n-gram; fixed seed so hashes are stable across runs
_MULTIPLIERS = np.random.default_rng(0x5EED_DEC0).integers(0, 2**64 - 1, _MAX_NGRAM, np.uint64, True) | np.uint64(1)


@dataclass(frozen=True)
class Tokens:
    """The normalized words of many texts: one flat string array, the text of each word, words per text."""

    words: pa.Array
    text: np.ndarray
    counts: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.cumsum(self.counts) - self.counts


def tokenize(texts: list[str] | pa.Array) -> Tokens:
    """NFKC, lowercase, split on non-word characters — all in pyarrow.compute, no per-word Python."""
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    parts = pc.split_pattern_regex(pc.utf8_lower(pc.utf8_normalize(pc.fill_null(arr, ""), "NFKC")), _NON_WORD)
    flat, parent = pc.list_flatten(parts), pc.list_parent_indices(parts)
    keep = pc.greater(pc.binary_length(flat), 0)
    text = parent.filter(keep).to_numpy().astype(np.int64)
    return Tokens(flat.filter(keep), text, np.bincount(text, minlength=len(arr)).astype(np.int64))


def words(text: str) -> list[str]:
    """Normalized words of one text (what n-grams are made of)."""
    return tokenize([text]).words.to_pylist()


def word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def _finish(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads the bits of the linear combination."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def kgram_hashes(word_hashes: np.ndarray, k: int) -> np.ndarray:
    """Hash of every window of k consecutive words (len - k + 1 values; empty when too short)."""
    count = len(word_hashes) - k + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.full(count, np.uint64(k), dtype=np.uint64)
    for i in range(k):
        h += word_hashes[i : i + count] * _MULTIPLIERS[i]
    return _finish(h)


@dataclass(frozen=True)
class _Windows:
    """k-gram hashes of many texts at once, with the text and word position each came from."""

    hashes: np.ndarray
    text: np.ndarray
    start: np.ndarray


@dataclass(frozen=True)
class _Joined:
    """Many texts as one array of word hashes, so their k-grams are hashed in a few numpy passes.

    Texts are separated by an unknown-word marker; a window that holds an unknown word (one not in the
    benchmark vocabulary, or a separator) can't be in the index and is dropped.
    """

    word_hashes: np.ndarray
    unknown_before: np.ndarray  # unknown_before[j]: unknown words among the first j
    offsets: np.ndarray  # where each text starts

    @classmethod
    def of(cls, tokens: Tokens, ids: np.ndarray, word_table: np.ndarray) -> _Joined:
        """ids: the vocabulary id of each word in tokens, -1 when unknown."""
        sizes = tokens.counts + 1
        joined = np.full(int(sizes.sum()), -1, dtype=np.int64)
        joined[np.arange(len(ids)) + tokens.text] = ids  # word j of the flat array moves right by its text number
        hashes = np.append(word_table, np.uint64(0))[joined]  # id -1 picks the appended 0
        return cls(hashes, np.concatenate(([0], np.cumsum(joined < 0))), np.cumsum(sizes) - sizes)

    def windows(self, k: int) -> _Windows:
        hashes = kgram_hashes(self.word_hashes, k)
        n = len(hashes)
        valid = np.flatnonzero(self.unknown_before[k : k + n] == self.unknown_before[:n])
        text = np.searchsorted(self.offsets, valid, side="right") - 1
        return _Windows(hashes[valid], text, valid - self.offsets[text])


# -- reading benchmark files -------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    texts: tuple[str, ...]


def _check_text_file(path: Path) -> bytes:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise DatasetError(f"benchmark file {path} looks binary (NUL bytes), expected {path.suffix} text")
    return data


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(_check_text_file(path).splitlines(), 1):
        try:
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise DatasetError(f"benchmark file {path}, line {number}: not UTF-8 ({err.reason})") from None


def _jsonl_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"benchmark file {path}, line {number}: invalid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise DatasetError(
                f"benchmark file {path}, line {number}: expected a JSON object, got {type(record).__name__}"
            )
        yield f"line {number}", record


def _json_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    text = "\n".join(line for _, line in _decoded_lines(path))
    if not text.lstrip().startswith("["):
        yield from _jsonl_records(path)
        return
    try:
        records = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(f"benchmark file {path}, line {err.lineno}: invalid JSON ({err.msg})") from None
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise DatasetError(f"benchmark file {path}, item {i}: expected a JSON object, got {type(record).__name__}")
        yield f"item {i}", record


def _txt_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in _decoded_lines(path):
        if line.strip():
            yield f"line {number}", {"text": line}


def _csv_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    text = "\n".join(line for _, line in _decoded_lines(path))
    reader = csv.DictReader(io.StringIO(text))
    try:
        for record in reader:
            yield f"line {reader.line_num}", record
    except csv.Error as err:
        raise DatasetError(f"benchmark file {path}, line {reader.line_num}: bad CSV ({err})") from None


def _parquet_records(path: Path, label: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(f"benchmark file {path}: not a readable parquet file ({err})") from None
    for i, record in enumerate(table.to_pylist()):
        yield f"{label}row {i}", record


def _folder_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if any((path / m).exists() for m in _HF_MARKERS):
        yield from _hf_records(path)
        return
    files = sorted(path.rglob("*.parquet"))
    if not files:
        raise DatasetError(f"benchmark folder {path} has no parquet files and is not a datasets save_to_disk folder")
    for f in files:
        yield from _parquet_records(f, f"{f.relative_to(path)} ")


def _hf_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import datasets  # slow to import; only folders saved with save_to_disk need it

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as err:  # datasets raises many types for a broken folder
        raise DatasetError(f"benchmark folder {path}: load_from_disk failed ({err})") from None
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
    for split, ds in splits:
        label = f"{split} " if split else ""
        for i, record in enumerate(ds.to_list()):
            yield f"{label}row {i}", record


_READERS = {
    ".jsonl": _jsonl_records,
    ".json": _json_records,
    ".txt": _txt_records,
    ".csv": _csv_records,
    ".parquet": _parquet_records,
}


def _strings(value: Any) -> Iterator[str]:
    """Every string in a field value: itself, or those inside lists and objects."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _item(source: BenchmarkSource, where: str, record: dict[str, Any]) -> BenchmarkItem:
    fields = source.text_fields or DEFAULT_TEXT_FIELDS
    present = [f for f in fields if f in record]
    if not present:
        raise DatasetError(
            f"benchmark {source.path}, {where}: none of the text fields {', '.join(fields)} "
            f"(has: {', '.join(map(str, record)) or 'nothing'}); set text_fields="
        )
    id_fields = (source.id_field,) if source.id_field else DEFAULT_ID_FIELDS
    item_id = next((str(record[f]) for f in id_fields if record.get(f) is not None), where)
    return BenchmarkItem(item_id, tuple(s for f in present for s in _strings(record[f]) if s.strip()))


def load_benchmark(source: BenchmarkSource) -> list[BenchmarkItem]:
    """The items of one benchmark file or folder; DatasetError names the file and line on bad input."""
    path = source.path
    if not path.exists():
        raise DatasetError(f"benchmark file not found: {path}")
    if path.is_dir():
        records = _folder_records(path)
    elif path.suffix.lower() in _READERS:
        records = _READERS[path.suffix.lower()](path)
    else:
        raise DatasetError(f"benchmark file {path}: unsupported type {path.suffix!r} (use {', '.join(_READERS)})")
    items = [_item(source, where, record) for where, record in records]
    if not items:
        raise DatasetError(f"benchmark {path} has no items")
    return items


# -- the index ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    benchmark: str
    item_id: str
    column: str
    words: str  # the matching n-gram, normalized


@dataclass(frozen=True)
class _Hit:
    bench: int
    item: int
    start: int
    k: int


@dataclass(frozen=True)
class BenchmarkIndex:
    ngram: int
    names: tuple[str, ...]
    item_ids: tuple[tuple[str, ...], ...]
    vocab: pa.Array  # distinct benchmark words; a word's id is its position
    word_table: np.ndarray  # uint64 hash per vocab word
    hashes: np.ndarray  # sorted distinct n-gram hashes, boilerplate removed
    bench: np.ndarray  # uint16: benchmark of the first occurrence
    item: np.ndarray  # int32: item of the first occurrence
    lengths: tuple[int, ...]  # n-gram lengths present, longest first: ngram, then whole short fields
    boilerplate: int  # distinct n-grams dropped as templates

    @property
    def nbytes(self) -> int:
        arrays = (self.word_table, self.hashes, self.bench, self.item)
        return sum(a.nbytes for a in arrays) + self.vocab.nbytes

    def _joined(self, tokens: Tokens) -> _Joined:
        ids = pc.fill_null(pc.index_in(tokens.words, value_set=self.vocab), -1).to_numpy().astype(np.int64)
        return _Joined.of(tokens, ids, self.word_table)

    def _first_hits(self, tokens: Tokens) -> dict[int, _Hit]:
        """text number -> its earliest match (longer n-grams win ties)."""
        best: dict[int, _Hit] = {}
        if len(self.hashes) == 0:
            return best
        joined = self._joined(tokens)
        for k in self.lengths:
            win = joined.windows(k)
            pos = np.minimum(np.searchsorted(self.hashes, win.hashes), len(self.hashes) - 1)
            hit = np.flatnonzero(self.hashes[pos] == win.hashes)
            order = hit[np.lexsort((win.start[hit], win.text[hit]))]
            first = order[np.r_[True, win.text[order][1:] != win.text[order][:-1]]] if len(order) else order
            for j in first:
                t, start = int(win.text[j]), int(win.start[j])
                if t not in best or start < best[t].start:
                    best[t] = _Hit(int(self.bench[pos[j]]), int(self.item[pos[j]]), start, k)
        return best

    def matches(self, columns: dict[str, pa.Array | list[str]]) -> list[Match | None]:
        """Per row, the first match over the columns in order; columns: equal-length arrays of texts."""
        names = list(columns)
        arrays = [c if isinstance(c, pa.Array) else pa.array(c, pa.string()) for c in columns.values()]
        rows = len(arrays[0]) if arrays else 0
        tokens = tokenize(pa.concat_arrays(arrays) if arrays else pa.array([], pa.string()))
        best = self._first_hits(tokens)
        starts = tokens.starts
        out: list[Match | None] = [None] * rows
        for t in sorted(best):
            c, r = divmod(t, rows)
            if out[r] is None:
                h = best[t]
                gram = " ".join(tokens.words[starts[t] + h.start : starts[t] + h.start + h.k].to_pylist())
                out[r] = Match(self.names[h.bench], self.item_ids[h.bench][h.item], names[c], gram)
        return out


def _doc_limit(max_doc_freq: float, items: int) -> float:
    """Most items an n-gram may be in before it counts as boilerplate."""
    return max(max_doc_freq * items if max_doc_freq < 1 else max_doc_freq, 1)


def _grams(joined: _Joined, counts: np.ndarray, cfg: DecontamConfig) -> tuple[np.ndarray, np.ndarray, set[int]]:
    """(hash, text) of every n-gram, plus each whole text of short_item_min_words..ngram-1 words."""
    win = joined.windows(cfg.ngram)
    hashes, texts = [win.hashes], [win.text]
    low = cfg.short_item_min_words
    short = set() if low is None else set(np.unique(counts[(counts >= low) & (counts < cfg.ngram)]).tolist())
    for k in sorted(short):
        win = joined.windows(k)
        whole = (win.start == 0) & (counts[win.text] == k)
        hashes.append(win.hashes[whole])
        texts.append(win.text[whole])
    return np.concatenate(hashes), np.concatenate(texts), short


def _runs(*keys: np.ndarray) -> np.ndarray:
    """Mask of positions where any key differs from the previous position (the first is True)."""
    starts = np.ones(len(keys[0]), dtype=bool)
    if len(starts) > 1:
        starts[1:] = np.logical_or.reduce([key[1:] != key[:-1] for key in keys])
    return starts


def _drop_boilerplate(
    hashes: np.ndarray, bench: np.ndarray, item: np.ndarray, limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Sorted distinct hashes with the (bench, item) of their first occurrence; boilerplate removed."""
    order = np.lexsort((item, bench, hashes))
    hashes, bench, item = hashes[order], bench[order], item[order]
    distinct = _runs(hashes, bench, item)
    hashes, bench, item = hashes[distinct], bench[distinct], item[distinct]
    group = np.flatnonzero(_runs(hashes, bench))
    docs = np.diff(np.append(group, len(hashes)))
    templates = np.unique(hashes[group[docs > limits[bench[group]]]])
    keep = ~np.isin(hashes, templates)
    hashes, bench, item = hashes[keep], bench[keep], item[keep]
    first = _runs(hashes)
    return hashes[first], bench[first], item[first], len(templates)


def build_index(cfg: DecontamConfig) -> BenchmarkIndex:
    """Read every source, hash its n-grams, drop boilerplate, keep the first occurrence of each."""
    benchmarks = [(s.benchmark, load_benchmark(s)) for s in cfg.benchmarks]
    fields = [
        (b, i, text) for b, (_, items) in enumerate(benchmarks) for i, it in enumerate(items) for text in it.texts
    ]
    tokens = tokenize([text for _, _, text in fields])
    vocab = pc.unique(tokens.words)
    word_table = np.fromiter((word_hash(w) for w in vocab.to_pylist()), dtype=np.uint64, count=len(vocab))
    ids = pc.fill_null(pc.index_in(tokens.words, value_set=vocab), -1).to_numpy().astype(np.int64)
    hashes, text, short = _grams(_Joined.of(tokens, ids, word_table), tokens.counts, cfg)
    bench = np.fromiter((b for b, _, _ in fields), dtype=np.uint16, count=len(fields))[text]
    item = np.fromiter((i for _, i, _ in fields), dtype=np.int32, count=len(fields))[text]
    limits = np.asarray([_doc_limit(cfg.max_doc_freq, len(items)) for _, items in benchmarks], dtype=np.float64)
    hashes, bench, item, templates = _drop_boilerplate(hashes, bench, item, limits)
    return BenchmarkIndex(
        ngram=cfg.ngram,
        names=tuple(name for name, _ in benchmarks),
        item_ids=tuple(tuple(i.id for i in items) for _, items in benchmarks),
        vocab=vocab,
        word_table=word_table,
        hashes=hashes,
        bench=bench,
        item=item,
        lengths=tuple(sorted(short | {cfg.ngram}, reverse=True)),
        boilerplate=templates,
    )


# -- the stage ---------------------------------------------------------------------------------


def _column_texts(table: pa.Table, name: str) -> pa.Array:
    """A text column as one string array; a messages column (list of {role, content}) joins its contents."""
    if name not in table.column_names:
        raise DatasetError(f"{STAGE}: the table has no {name!r} column (columns: {', '.join(table.column_names)})")
    column = table.column(name)
    if pa.types.is_list(column.type) and pa.types.is_struct(column.type.value_type):
        joined = ["\n".join(str(m.get("content") or "") for m in (v or [])) for v in column.to_pylist()]
        return pa.array(joined, pa.string())
    return column.combine_chunks().cast(pa.string())


BATCH_ROWS = 50_000  # rows tokenized at once: ~0.3 GiB of word arrays for rows of ~100 words


class Decontaminate(Frozen):
    """The decontamination stage; the index is built on first use and kept on the instance."""

    version: ClassVar[str] = "1"
    config: DecontamConfig = DecontamConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """The stage contract (schemas/stage.py): no model needed."""
        return self(rows).named(ctx.name)

    @cached_property
    def index(self) -> BenchmarkIndex:
        return build_index(self.config)

    def run_stream(
        self, batches: Iterator[pa.RecordBatch], schema: pa.Schema, ctx: StageContext
    ) -> Iterator[StageResult]:
        """The finish-stage contract (schemas/stage.py: GlobalStage): rows match independently, so
        one result per batch; a missing text column fails before any batch (even with none)."""
        self._check_columns(schema.empty_table())
        for batch in batches:
            yield self(pa.Table.from_batches([batch])).named(ctx.name)

    def _check_columns(self, table: pa.Table) -> None:
        for name in self.config.text_columns:
            _column_texts(table.slice(0, 0), name)  # a missing column fails before the index is built

    def __call__(self, table: pa.Table) -> StageResult:
        started = time.perf_counter()
        self._check_columns(table)
        found: list[Match | None] = []
        for first in range(0, table.num_rows, BATCH_ROWS):  # rows match independently: batches bound the memory
            part = table.slice(first, BATCH_ROWS)
            found += self.index.matches({name: _column_texts(part, name) for name in self.config.text_columns})
        verdicts = [None if m is None else ("benchmark_contamination", _detail(m)) for m in found]
        raw = "response" if "response" in table.column_names else self.config.text_columns[0]
        return split_rows(table, STAGE, verdicts, raw_column=raw, started=started)


def _detail(m: Match) -> str:
    return f"{m.benchmark} item {m.item_id}: {m.column} shares {len(m.words.split())} words {m.words!r}"
