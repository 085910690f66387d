"""Text to instructions, in the style of Instruction Pre-Training (arXiv 2406.14491).

Raw documents are cut into token chunks (readers/chunks.py); for each chunk the model writes a
few question/answer pairs grounded in it (a task mix: factual questions, summaries, reasoning,
extraction, ...), as JSON constrained by a schema. Pairs are parsed tolerantly, deduplicated, and
checked against the chunk: an answer whose content words are mostly absent from the chunk is
rejected as `ungrounded_answer`. Two products come out:

1. SFT rows (SftRow): user = the question (or the chunk then the question, when
   `standalone_questions` is off), assistant = the answer; parent_ids = [chunk id, doc id].
2. An instruction-augmented pretraining corpus (AUGMENTED_SCHEMA): one row per chunk, its raw text
   followed by its kept pairs:

       <chunk text>

       Questions and answers about the text above:

       Q: <question 1>
       A: <answer 1>

       Q: <question 2>
       A: <answer 2>

Stats count *pair candidates*: every pair the model proposed (kept, or rejected with a reason),
plus one per chunk whose output gave no pair at all (rejected as synthesis_*). So
rows_in == rows_out + rejected, where rows_out is the number of SFT rows.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rapidfuzz import fuzz

from readers.chunks import Chunk, as_token_spans, chunk_document
from readers.documents import Document, ReadOptions, Skipped, documents_of, documents_table, read_documents
from schemas.config import Frozen, SamplingConfig
from schemas.engine import Completion, Engine
from schemas.errors import SynthloomError
from schemas.manifest import StageStats
from schemas.result import Reject, StageResult, leaked_token, rejects_table
from schemas.rows import SFT_SCHEMA, Lineage, Message, RejectRow, SftRow, arrow_schema, content_id, to_table
from schemas.stage import StageContext, context, derive_seed, lineage, system_turn
from schemas.templates import PromptTemplate, load_template
from schemas.verdicts import parse_verdict

GENERATOR = "text_to_instructions"
GENERATOR_VERSION = "1"
AUGMENT_HEADER = "Questions and answers about the text above:"

TASK_GUIDES: dict[str, str] = {
    "factual_qa": "ask about one specific fact the passage states; the answer gives that fact",
    "summarization": "ask for a short summary of one topic the passage covers; the answer is that summary",
    "reasoning": "ask why or how something happens; the answer explains it step by step from the passage",
    "extraction": "ask to list specific items the passage names (steps, terms, numbers, people); the answer lists them",
    "definition": "ask what a term used in the passage means; the answer defines it as the passage does",
    "comparison": "ask how two things the passage describes differ or agree; the answer contrasts them",
}
DEFAULT_TASKS = ("factual_qa", "summarization", "reasoning", "extraction")
OTHER_TASK = "other"


class TextToInstructionsConfig(Frozen):
    read: ReadOptions = ReadOptions()
    chunk_tokens: int = Field(512, ge=16, description="max tokens per chunk (engine tokenizer; else words)")
    overlap_tokens: int = Field(64, ge=0, description="max tokens shared by consecutive chunks")
    pairs_per_chunk: int = Field(3, ge=1, le=16)
    tasks: tuple[str, ...] = Field(DEFAULT_TASKS, min_length=1, description="the mix; repeat a name to weight it")
    custom_tasks: dict[str, str] = Field(default_factory=dict, description="extra task name -> one-line guide")
    template: str = "synthesize_pairs"
    system_prompt: str | None = None
    standalone_questions: bool = Field(True, description="questions must make sense without the chunk")
    sampling: SamplingConfig = SamplingConfig(temperature=0.7, top_p=0.95, max_tokens=1024)
    grounding_threshold: float = Field(0.5, ge=0.0, le=1.0, description="min share of answer words in the chunk")
    verbatim_ratio: float = Field(90.0, ge=0.0, le=100.0, description="rapidfuzz partial_ratio that passes anyway")
    keep_unaugmented_chunks: bool = Field(True, description="chunks with no kept pair still go to the corpus")
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> TextToInstructionsConfig:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError(f"overlap_tokens ({self.overlap_tokens}) must be < chunk_tokens ({self.chunk_tokens})")
        unknown = sorted(set(self.tasks) - set(self.guides()))
        if unknown:
            known = ", ".join(sorted(self.guides()))
            raise ValueError(f"unknown tasks {unknown}; known: {known} (or define them under custom_tasks)")
        return self

    def guides(self) -> dict[str, str]:
        return {**TASK_GUIDES, **self.custom_tasks}


class AugmentedRow(Lineage):
    """One chunk of the instruction-augmented pretraining corpus."""

    id: str
    text: str  # the chunk, then its kept pairs (format in the module docstring)
    chunk_id: str
    doc_id: str
    doc_source: str
    chunk_start: int  # char offsets of the chunk in its document
    chunk_end: int
    n_pairs: int


AUGMENTED_SCHEMA = arrow_schema(AugmentedRow)


# -- the output schema, and parsing --------------------------------------------------------------


class SynthPair(BaseModel):
    model_config = ConfigDict(extra="forbid", title="SynthPair")
    task: str
    question: str
    answer: str


class SynthPairs(BaseModel):
    model_config = ConfigDict(extra="forbid", title="SynthPairs")
    pairs: list[SynthPair]


def pairs_schema(tasks: Sequence[str], n: int) -> dict[str, Any]:
    """JSON schema for constrained decoding: task names as an enum, at most n pairs."""
    schema = SynthPairs.model_json_schema()
    schema["$defs"]["SynthPair"]["properties"]["task"]["enum"] = sorted(set(tasks))
    schema["properties"]["pairs"].update(minItems=1, maxItems=n)
    return schema


@dataclass(frozen=True)
class Pair:
    task: str
    question: str
    answer: str

    def as_dict(self) -> dict[str, str]:
        return {"task": self.task, "question": self.question, "answer": self.answer}


@dataclass(frozen=True)
class ParsedPairs:
    items: list[Pair | Reject]  # in the model's order; a Reject is a proposed pair that cannot be used
    method: str  # json | json_extracted | json_salvaged | qa_text


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_PAIRS_KEY = re.compile(r'"pairs"\s*:\s*\[')
_LABEL = re.compile(  # "Q:", "1. Question 1 (reasoning):", "- A:", "Answer:"
    r"^\s*(?:[-*]\s+|\d+[.)]\s*)?(?P<kind>question|answer|q|a)\s*\d*\s*"
    r"(?:[(\[](?P<task>[\w -]+)[)\]])?\s*:\s*(?P<rest>.*)$",
    re.IGNORECASE,
)


def _items_of(obj: Any) -> list[Any] | None:
    if isinstance(obj, dict) and isinstance(obj.get("pairs"), list):
        return obj["pairs"]
    if isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        return obj
    return None


def find_json_pairs(text: str) -> list[Any] | None:
    """The pairs list of the first complete JSON object (or list of objects) anywhere in `text`."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[{\[]", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        items = _items_of(obj)
        if items is not None:
            return items
    return None


def salvage_json_pairs(text: str) -> tuple[list[Any], str] | None:
    """Complete pair objects of a `"pairs": [` list that never closed, and the unfinished tail."""
    m = _PAIRS_KEY.search(text)
    if m is None:
        return None
    decoder, pos, items = json.JSONDecoder(), m.end(), []
    while True:
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return items, ""
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return items, text[pos:].strip()
        items.append(obj)


def qa_text_pairs(text: str) -> list[dict[str, Any]]:
    """Pairs written as 'Q: ... / A: ...' (also 'Question 1 (task): ...', '**Answer:**'). A question
    without an answer has answer None."""
    pairs: list[dict[str, Any]] = []
    field_name = ""
    for line in text.splitlines():
        m = _LABEL.match(line.replace("**", ""))
        kind = m.group("kind").lower()[0] if m else ""
        if kind == "q":
            pairs.append({"task": m.group("task") or OTHER_TASK, "question": m.group("rest"), "answer": None})
            field_name = "question"
        elif kind == "a" and pairs and pairs[-1]["answer"] is None:
            pairs[-1]["answer"], field_name = m.group("rest"), "answer"
        elif pairs and field_name:
            pairs[-1][field_name] = f"{pairs[-1][field_name] or ''}\n{line}"
    return pairs


def to_pair(item: Any, tasks: Sequence[str]) -> Pair | Reject:
    """One proposed pair, checked for shape. Task names are normalized ('Factual QA' -> factual_qa);
    an unknown one becomes 'other'."""
    raw = json.dumps(item, ensure_ascii=False) if not isinstance(item, str) else item
    if not isinstance(item, dict):
        return Reject("pair_malformed", f"a JSON {type(item).__name__}, not an object", raw)
    q, a, task = item.get("question"), item.get("answer"), item.get("task")
    if a is None and isinstance(q, str):
        return Reject("pair_incomplete", "a question without an answer", raw)
    if not isinstance(q, str) or not isinstance(a, str) or not q.strip() or not a.strip():
        return Reject("pair_malformed", "needs non-empty string 'question' and 'answer'", raw)
    task = re.sub(r"[\s-]+", "_", task.strip().lower()) if isinstance(task, str) else ""
    return Pair(task if task in tasks else OTHER_TASK, q.strip(), a.strip())


def extract_items(c: Completion) -> tuple[list[Any], str, str] | Reject:
    """(proposed items, unfinished tail, method) from the model's text, or why there are none."""
    text = _FENCE.sub("", c.text.strip())
    strict = parse_verdict(Completion(text, c.finish_reason, 0, 0), SynthPairs)
    if isinstance(strict, SynthPairs):
        return [p.model_dump() for p in strict.pairs], "", "json"
    found = find_json_pairs(text)
    if found is not None:
        return found, "", "json_extracted"
    salvaged = salvage_json_pairs(text)
    if salvaged is not None:
        return salvaged[0], salvaged[1], "json_salvaged"
    qa = qa_text_pairs(text)
    if qa:
        if c.truncated and qa[-1]["answer"] is not None:
            last = qa.pop()
            return qa, f"Q: {last['question']}\nA: {last['answer']}", "qa_text"
        return qa, "", "qa_text"
    return Reject("synthesis_unparseable", f"no JSON pairs and no Q:/A: lines ({strict.detail})", c.text)


def parse_pairs(c: Completion, tasks: Sequence[str]) -> ParsedPairs | Reject:
    """The model's output as proposed pairs. Pure; never raises. A truncated output keeps its
    complete pairs; the unfinished last one becomes a `pair_incomplete` item."""
    if not c.text.strip():
        return Reject("synthesis_empty", "the model wrote nothing", c.text)
    extracted = extract_items(c)
    if isinstance(extracted, Reject):
        return extracted
    items, tail, method = extracted
    parsed: list[Pair | Reject] = [to_pair(x, tasks) for x in items]
    if tail:
        why = "cut off at max_tokens" if c.truncated else "unfinished at the end of the output"
        parsed.append(Reject("pair_incomplete", why, tail))
    if not parsed:
        return Reject("synthesis_no_pairs", "the output holds an empty list of pairs", c.text)
    return ParsedPairs(parsed, method)


# -- checks on one pair --------------------------------------------------------------------------

_STOPWORD_TEXT = """a an the and or but if then else of to in on at by for with from into onto over under about as is
    are was were be been being it its it's this that these those there here which who whom whose what when where why how
    not no yes do does did done can could would should will shall may might must have has had having than so such
    very also only just more most less least many much some any each every all both either neither other another
    same own out up down off again further once their them they he she his her him we us our you your i me my
    because while during before after between through against among per via etc"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "edly", "ed", "es", "ly", "s", "e", "y")
_CONTEXT_REFERENCE = re.compile(
    r"\b(?:the|this|that|above|given|provided)\s+(?:passage|text|article|excerpt|document|paragraph)\b", re.I
)


def stem(word: str) -> str:
    """A crude stem, enough to match 'tides'/'tide' and 'rising'/'rise'."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:6]


def content_stems(text: str) -> list[str]:
    words = _WORDS.findall(text.lower())
    return [stem(w) for w in words if w not in _STOPWORDS and (len(w) > 2 or w.isdigit())]


@dataclass(frozen=True)
class Grounding:
    score: float  # share of the answer's content words found in the chunk
    found: int
    total: int
    partial_ratio: float  # rapidfuzz, 0-100: best alignment of the answer inside the chunk


def grounding(pair: Pair, chunk_text: str) -> Grounding:
    """How well the chunk supports the answer. Short answers ('Yes', '1440') are checked together
    with their question."""
    words = content_stems(pair.answer)
    if len(words) < 2:
        words = content_stems(f"{pair.question} {pair.answer}")
    vocabulary = set(content_stems(chunk_text))
    found = sum(w in vocabulary for w in words)
    ratio = fuzz.partial_ratio(pair.answer.lower(), chunk_text.lower())
    return Grounding(found / len(words) if words else 0.0, found, len(words), ratio)


def question_key(question: str) -> str:
    return re.sub(r"\W+", " ", question.lower()).strip()


# -- the stage ---------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What one chunk gave: kept pairs, and (reject, pair or None) for what it did not."""

    chunk: Chunk
    seed: int
    completion: Completion
    kept: list[Pair] = field(default_factory=list)
    rejected: list[tuple[Reject, Pair | None]] = field(default_factory=list)

    @property
    def candidates(self) -> int:
        return len(self.kept) + len(self.rejected)


@dataclass(frozen=True)
class TextToInstructionsResult:
    sft: StageResult  # SFT rows, every reject (pairs and failed chunks), stats over pair candidates
    augmented: pa.Table  # AUGMENTED_SCHEMA, one row per chunk
    chunks: list[Chunk]


class TextToInstructions(Frozen):
    """`run(documents_table(docs), ctx) -> StageResult` (schemas/stage.py; the augmented corpus is
    its extra output "corpus"); `stage(docs, engine, run_id)` runs it and hands the products apart."""

    version: ClassVar[str] = GENERATOR_VERSION
    inputs: ClassVar[tuple[str, ...]] = ("id", "source", "text")
    outputs: ClassVar[tuple[str, ...]] = tuple(SFT_SCHEMA.names)
    config: TextToInstructionsConfig = TextToInstructionsConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """Documents (id, source, text) in, chunked with the engine's tokenizer (whitespace words when
        it has none); SFT rows out, the augmented corpus as extra["corpus"]. No model for no documents."""
        docs = documents_of(rows)
        if not docs:
            stats = StageStats(name=ctx.name, rows_in=0, rows_out=0, rejected=0)
            corpus = {"corpus": AUGMENTED_SCHEMA.empty_table()}
            return StageResult(SFT_SCHEMA.empty_table(), rejects_table([]), stats, corpus)
        engine = ctx.engine()
        started = time.perf_counter()
        template = self.template()
        outcomes = self._outcomes(self.chunk(docs, engine_tokenizer(engine)), engine, template)
        made = self._result(outcomes, engine.model_id, template, ctx.run_id, time.perf_counter() - started)
        return made.named(ctx.name)

    def __call__(self, docs: Sequence[Document], engine: Engine, run_id: str) -> TextToInstructionsResult:
        """`run` on `docs` under the name "text_to_instructions", its products apart (and the chunks)."""
        result = self.run(documents_table(list(docs)), context(GENERATOR, engine, run_id))
        chunks = self.chunk(docs, engine_tokenizer(engine))
        corpus = result.extra.get("corpus", AUGMENTED_SCHEMA.empty_table())
        return TextToInstructionsResult(replace(result, extra={}), corpus, chunks)

    # -- inputs --------------------------------------------------------------------------------
    def read(self, paths: Sequence[str]) -> tuple[list[Document], list[Skipped]]:
        return read_documents(paths, self.config.read)

    def chunk(self, inputs: Sequence[Document | Chunk], tokenizer: Any = None) -> list[Chunk]:
        """Documents are chunked with `tokenizer` (see readers.chunks.as_token_spans); chunks pass through."""
        spans = as_token_spans(tokenizer)
        out: list[Chunk] = []
        for item in inputs:
            if isinstance(item, Chunk):
                out.append(item)
            else:
                out += chunk_document(item, spans, self.config.chunk_tokens, self.config.overlap_tokens)
        return out

    # -- pure pieces -----------------------------------------------------------------------------
    def template(self) -> PromptTemplate:
        return load_template(self.config.template)

    def chunk_seed(self, chunk: Chunk) -> int:
        return derive_seed(self.config.seed, chunk.id)

    def plan(self, seed: int) -> list[dict[str, str]]:
        """The tasks asked of one chunk: the mix, rotated by the chunk's seed so all tasks get used."""
        tasks, guides = self.config.tasks, self.config.guides()
        names = [tasks[(seed + k) % len(tasks)] for k in range(self.config.pairs_per_chunk)]
        return [{"task": name, "guide": guides[name]} for name in names]

    def format_input(self, chunk: Chunk, template: PromptTemplate) -> list[dict[str, str]]:
        seed = self.chunk_seed(chunk)
        prompt = template.render(
            passage=chunk.text,
            n=self.config.pairs_per_chunk,
            plan=self.plan(seed),
            standalone=self.config.standalone_questions,
        )
        return [*system_turn(self.config.system_prompt), {"role": "user", "content": prompt}]

    def params(self, chunk: Chunk) -> SamplingConfig:
        return self.config.sampling.model_copy(update={"seed": self.chunk_seed(chunk)})

    def json_schema(self) -> dict[str, Any]:
        return pairs_schema(self.config.tasks, self.config.pairs_per_chunk)

    def parse_output(self, c: Completion) -> ParsedPairs | Reject:
        return parse_pairs(c, self.config.tasks)

    def check_pair(self, pair: Pair, chunk: Chunk, special_tokens: Sequence[str]) -> Reject | None:
        """Why a well-formed pair is not kept, or None."""
        raw = json.dumps(pair.as_dict(), ensure_ascii=False)
        leaked = leaked_token(f"{pair.question}\n{pair.answer}", special_tokens)
        if leaked:
            return Reject("pair_template_leak", f"contains control token {leaked!r}", raw)
        if self.config.standalone_questions and _CONTEXT_REFERENCE.search(pair.question):
            return Reject("question_needs_context", "refers to the passage, which the SFT row does not include", raw)
        g = grounding(pair, chunk.text)
        if g.score < self.config.grounding_threshold and g.partial_ratio < self.config.verbatim_ratio:
            detail = (
                f"support {g.score:.2f} < threshold {self.config.grounding_threshold:.2f} "
                f"({g.found}/{g.total} content words in the chunk; partial_ratio {g.partial_ratio:.0f} "
                f"< {self.config.verbatim_ratio:.0f})"
            )
            return Reject("ungrounded_answer", detail, raw)
        return None

    def judge_chunk(self, chunk: Chunk, c: Completion, special_tokens: Sequence[str]) -> _Outcome:
        out = _Outcome(chunk, self.chunk_seed(chunk), c)
        parsed = self.parse_output(c)
        if isinstance(parsed, Reject):
            out.rejected.append((parsed, None))
            return out
        seen: set[str] = set()
        for item in parsed.items:
            if isinstance(item, Reject):
                out.rejected.append((item, None))
                continue
            key = question_key(item.question)
            reject = (
                Reject("duplicate_question", "same question earlier in this chunk", json.dumps(item.as_dict()))
                if key in seen
                else self.check_pair(item, chunk, special_tokens)
            )
            seen.add(key)
            if reject is None:
                out.kept.append(item)
            else:
                out.rejected.append((reject, item))
        return out

    def user_message(self, pair: Pair, chunk: Chunk) -> str:
        return pair.question if self.config.standalone_questions else f"{chunk.text}\n\n{pair.question}"

    def augmented_text(self, chunk: Chunk, pairs: Sequence[Pair]) -> str:
        if not pairs:
            return chunk.text
        qa = "\n\n".join(f"Q: {p.question}\nA: {p.answer}" for p in pairs)
        return f"{chunk.text}\n\n{AUGMENT_HEADER}\n\n{qa}"

    # -- the run ---------------------------------------------------------------------------------
    def _outcomes(self, chunks: list[Chunk], engine: Engine, template: PromptTemplate) -> list[_Outcome]:
        """Every chunk asked for its pairs in one batched, schema-constrained call, and checked."""
        outs: list[Completion] = []
        if chunks:
            chats = [self.format_input(ch, template) for ch in chunks]
            outs = engine.chat(chats, [self.params(ch) for ch in chunks], json_schema=self.json_schema())
        special = engine.special_tokens()
        return [self.judge_chunk(ch, c, special) for ch, c in zip(chunks, outs, strict=True)]

    def _lineage(self, model_id: str, template: PromptTemplate, run_id: str, chunk: Chunk) -> dict[str, Any]:
        return lineage(
            source_kind="text",
            generator=GENERATOR,
            generator_version=GENERATOR_VERSION,
            model_id=model_id,
            template_name=template.name,
            template_hash=template.hash,
            sampling=json.dumps(self.config.sampling.model_dump(), sort_keys=True),
            run_id=run_id,
            parent_ids=[chunk.id, chunk.doc_id],
        )

    def _result(
        self, outcomes: list[_Outcome], model_id: str, template: PromptTemplate, run_id: str, seconds: float
    ) -> StageResult:
        """SFT rows, rejects and stats under GENERATOR (as the reject ids are), the corpus as extra."""
        rows: dict[str, SftRow] = {}
        rejects: list[RejectRow] = []
        augmented: list[AugmentedRow] = []
        for o in outcomes:
            lineage = self._lineage(model_id, template, run_id, o.chunk)
            kept = self._sft_rows(o, lineage, rows, rejects)
            rejects += [self._reject_row(r, p, o, lineage) for r, p in o.rejected]
            if kept or self.config.keep_unaugmented_chunks:
                augmented.append(self._augmented_row(o, kept, lineage))
        stats = StageStats(
            name=GENERATOR,
            rows_in=sum(o.candidates for o in outcomes),
            rows_out=len(rows),
            rejected=len(rejects),
            prompt_tokens=sum(o.completion.prompt_tokens for o in outcomes),
            completion_tokens=sum(o.completion.completion_tokens for o in outcomes),
            seconds=round(seconds, 3),
        )
        corpus = {"corpus": to_table(augmented, AUGMENTED_SCHEMA)}
        return StageResult(to_table(rows.values(), SFT_SCHEMA), rejects_table(rejects), stats, corpus)

    def _sft_rows(
        self, o: _Outcome, lineage: dict[str, Any], rows: dict[str, SftRow], rejects: list[RejectRow]
    ) -> list[Pair]:
        """Adds o's kept pairs to `rows` (a pair already there from another chunk is rejected as
        duplicate_pair); returns the pairs this chunk keeps, for its augmented row."""
        share_in, share_out = _token_shares(o)
        kept: list[Pair] = []
        for pair in o.kept:
            messages = [
                {"role": "user", "content": self.user_message(pair, o.chunk)},
                {"role": "assistant", "content": pair.answer},
            ]
            row_id = content_id(messages)
            if row_id in rows:
                dup = Reject("duplicate_pair", f"same content as row {row_id}", json.dumps(pair.as_dict()))
                rejects.append(self._reject_row(dup, pair, o, lineage))
                continue
            rows[row_id] = SftRow(
                id=row_id,
                messages=[Message(**m) for m in messages],
                instruction=messages[0]["content"],
                response=pair.answer,
                prompt_tokens=share_in,
                completion_tokens=share_out,
                seed=o.seed,
                **lineage,
            )
            kept.append(pair)
        return kept

    def _reject_row(self, r: Reject, pair: Pair | None, o: _Outcome, lineage: dict[str, Any]) -> RejectRow:
        record: dict[str, Any] = {
            "chunk_id": o.chunk.id,
            "doc_id": o.chunk.doc_id,
            "source": o.chunk.source,
            "chunk_start": o.chunk.start,
            "chunk_end": o.chunk.end,
        }
        if pair is not None:
            record.update(pair.as_dict())
        return r.to_row(GENERATOR, o.seed, record, lineage)

    def _augmented_row(self, o: _Outcome, kept: list[Pair], lineage: dict[str, Any]) -> AugmentedRow:
        text = self.augmented_text(o.chunk, kept)
        return AugmentedRow(
            id=content_id("augmented", o.chunk.id, text),
            text=text,
            chunk_id=o.chunk.id,
            doc_id=o.chunk.doc_id,
            doc_source=o.chunk.source,
            chunk_start=o.chunk.start,
            chunk_end=o.chunk.end,
            n_pairs=len(kept),
            seed=o.seed,
            **lineage,
        )


def _token_shares(o: _Outcome) -> tuple[int, int]:
    """The chunk call's tokens split evenly over the pairs it proposed (rows carry their share)."""
    n = max(1, o.candidates)
    return o.completion.prompt_tokens // n, o.completion.completion_tokens // n


def engine_tokenizer(engine: Engine) -> Any:
    """The engine's tokenizer if it exposes one (vLLM: an HF tokenizer), else None (whitespace words)."""
    try:
        return getattr(engine, "tokenizer", None)
    except SynthloomError:  # an OpenAI-compatible engine without a local tokenizer configured
        return None
