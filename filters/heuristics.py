"""Rule-based quality filters for SFT rows: `Heuristics(config).run(rows, ctx) -> StageResult`.

Each row gets the checks below in this fixed order; the first check that fails decides the reject
(`reason`, plus a `detail` stating the measured value and the threshold), and later checks are not
run on it. Cheap, vectorized checks (pyarrow.compute over whole columns) come first; the per-row
Python checks (5-7, 9-14) only see rows that are still in. `bench/quality.py` measures checks 4-14
on a hand-labeled set (data/quality/labeled.jsonl).

 1. `truncated`                  — the generation hit max tokens. Uses a `finish_reason` column
                                   (value "length") and/or a boolean `truncated` column when the table
                                   has one; tables with neither skip this check silently.
 2. `instruction_too_short/long` — whitespace-separated words, then characters. Word counts treat CJK
 3. `response_too_short/long`      text without spaces as one word: bound such data by chars instead.
 4. `instruction_ends_with_colon` — "Rewrite the text below:" with nothing below (Magpie's filter).
 5. `instruction_not_a_request` — a statement, greeting or thanks: no '?', request phrase or imperative
                                   (filters.junk.requests).
 6. `template_leak`              — chat-template control tokens or role turns of any common family in
                                   the instruction or response (filters.junk.leaks).
    `garbled_text`               — U+FFFD replacement characters, control characters, or mojibake
                                   ("cafÃ©", "donâ€™t": UTF-8 read as Latin-1/cp1252) in the
                                   instruction or response (filters.junk.garbled).
    `placeholder`                — "[Insert code here]", "<your answer here>", "TODO: write the ...",
                                   lorem ipsum where the answer should be; bracketed names and dates
                                   are fine, and so is anything when the instruction asks for a
                                   template (filters.junk.placeholders).
 7. `refusal` / `deflection`     — a refusal or AI disclaimer in the first `refusal_sentences` sentences,
                                   in any phrasing (filters.junk.refusal); a short answer that asks for
                                   missing input instead of answering. Then `refusal` for any extra plain
                                   `refusal_patterns` (case-insensitive, any apostrophe) inside the first
                                   `refusal_window_chars` of the response (none by default).
 8. `low_judge_score` / `unscored` — when the table has `judge_column` (the rubric judge's 1–5
                                   `judge_score`): scores below `min_judge_score` are rejected; a null
                                   score is kept unless `reject_unscored`.
 9. `echo`                       — the response repeats or barely extends the instruction (rapidfuzz;
                                   filters.junk.echo).
10. `char_loop`                  — a unit of 1..`char_loop_max_unit` characters repeated back to back
                                   over at least `char_loop_min_chars` ("1.1.1.1…", "Mmmmmm…", "!!!!!…").
                                   Layout-only units ("-----", "=====", "|", indentation) are fine.
11. `ngram_repetition`           — share of the response's word `repetition_ngram`-grams that repeat an
                                   earlier one (1 - unique/total, lowercased words), like Gopher's
                                   duplicate n-gram rules.
12. `repeated_sentence`          — one sentence of >= 4 words said `max_sentence_repeats` times.
13. `cut_off`                    — the text itself ends mid-way (open code fence, dangling "and the",
                                   no closing punctuation...), for rows with no known finish reason
                                   (filters.junk.cutoff).
14. `wrong_language`             — lingua language id of the instruction, then the response (its start,
                                   and its end too when it is long). A response in a language the
                                   instruction names ("translate into French") is allowed. A text is
                                   rejected when its most likely language is not in `allowed_languages`
                                   and lingua's confidence for it is at least `min_language_confidence`.
                                   Code blocks, inline code and URLs are removed first; texts with fewer
                                   than `language_min_letters` letters left are not judged (too short to
                                   tell); only the first (and last) `language_max_chars` are read.
                                   When English is allowed, plainly English prose (ASCII, >= 30% English
                                   function words, some of them English-only) is kept without asking lingua
                                   (`plainly_english`; `heuristic_verdicts(..., fast=False)` asks anyway):
                                   same verdicts on the labeled and holdout sets; on synthetic word salad
                                   that mixes German words in, 2 of 10,000 texts lingua calls German are kept.

Any numeric threshold set to None (or a flag set to False, or an empty pattern tuple) disables its check.
Only `instruction` and `response` (the first turn) are checked; both columns are required.

Language detector: built once per process per (language set, accuracy) and cached; lingua loads each
language's models lazily, the first time a text could be that language. Measured on this 2-core box:
all 75 languages in high-accuracy mode load ~0.9 GB and take ~20 s before the first answers, then
~170 texts/s; the default 20 `COMMON_LANGUAGES` take ~2-9 s (machine load) and ~350 MB, then ~2,300
texts/s of 500 chars one by one or ~4,500 with lingua's parallel API on 2 cores, which is enough to tell
off-target output of a chat model.
Confidence values are relative to the candidate set. Low-accuracy mode is ~5x faster and ~40 MB but
unreliable below ~120 characters (it calls short English instructions Swedish or Dutch): off by default.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder
from pydantic import Field, field_validator

from filters.base import split_rows
from filters.junk.cutoff import cut_off
from filters.junk.echo import echo
from filters.junk.garbled import garbled
from filters.junk.leaks import template_leak
from filters.junk.loops import repeated_sentence
from filters.junk.placeholders import placeholder
from filters.junk.refusal import deflection, refusal
from filters.junk.requests import not_a_request
from schemas.config import Frozen
from schemas.errors import DatasetError
from schemas.result import StageResult
from schemas.stage import StageContext, context

STAGE = "heuristics"

# Extra plain phrases one may add as `refusal_patterns`; the structural detector (filters.junk.refusal)
# already covers these and many more phrasings, so the default adds none.
DEFAULT_REFUSALS: tuple[str, ...] = ("I'm sorry, but", "I apologize, but", "As an AI", "I cannot", "I'm unable to")

COMMON_LANGUAGES: tuple[str, ...] = (
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "pl", "cs",
    "ru", "uk", "tr", "ar", "hi", "zh", "ja", "ko", "vi", "id",
)  # fmt: skip

Verdict = tuple[str, str]
Check = Callable[[np.ndarray], Iterable[tuple[int, Verdict]]]


def _iso_code(code: str) -> str:
    code = code.strip().lower()
    try:
        IsoCode639_1.from_str(code)
    except ValueError:
        raise ValueError(f"unknown ISO 639-1 language code {code!r} (lingua supports e.g. en, de, fr, zh)") from None
    return code


class HeuristicsConfig(Frozen):
    """Thresholds; None (False for flags) disables a check. See the module docstring for the rules."""

    min_instruction_words: int | None = Field(2, ge=1)
    max_instruction_words: int | None = Field(1_000, ge=1)
    min_instruction_chars: int | None = Field(None, ge=1)
    max_instruction_chars: int | None = Field(8_000, ge=1)
    min_response_words: int | None = Field(1, ge=1)
    max_response_words: int | None = Field(4_000, ge=1)
    min_response_chars: int | None = Field(None, ge=1)
    max_response_chars: int | None = Field(32_000, ge=1)
    reject_truncated: bool = True
    reject_instruction_colon: bool = True
    reject_non_requests: bool = True
    reject_template_leaks: bool = True
    reject_garbled: bool = True
    reject_placeholders: bool = True
    refusal_sentences: int | None = Field(3, ge=1, description="opening sentences searched for refusals")
    refusal_patterns: tuple[str, ...] | None = ()
    refusal_window_chars: int = Field(100, ge=1)
    deflection_max_words: int | None = Field(80, ge=1)
    echo_min_cover: float | None = Field(0.8, gt=0.0, le=1.0)
    echo_max_new_words: int = Field(8, ge=0)
    cut_off_min_words: int | None = Field(6, ge=1)
    judge_column: str = Field("judge_score", description="falls back to judge_quality for tables scored before 0.2")
    min_judge_score: float | None = 3.0
    reject_unscored: bool = False
    char_loop_min_chars: int | None = Field(50, ge=4)
    char_loop_max_unit: int = Field(10, ge=1, le=64)
    repetition_ngram: int = Field(3, ge=1)
    max_ngram_repetition: float | None = Field(0.3, ge=0.0, le=1.0)
    max_sentence_repeats: int | None = Field(3, ge=2, description="a sentence said this often is a loop")
    allowed_languages: tuple[str, ...] | None = ("en",)
    language_candidates: tuple[str, ...] = COMMON_LANGUAGES
    min_language_confidence: float = Field(0.5, ge=0.0, le=1.0)
    language_min_letters: int = Field(20, ge=1)
    language_max_chars: int = Field(500, ge=50)
    language_low_accuracy: bool = False
    language_parallel: bool = Field(True, description="lingua's thread pool (all cores; RAYON_NUM_THREADS caps it)")

    @field_validator("allowed_languages", "language_candidates")
    @classmethod
    def _known_codes(cls, codes: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if codes is None else tuple(_iso_code(c) for c in codes)

    @field_validator("allowed_languages")
    @classmethod
    def _some_language(cls, codes: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if codes is not None and not codes:
            raise ValueError("allowed_languages is empty; use None to turn the language check off")
        return codes

    @field_validator("refusal_patterns")
    @classmethod
    def _no_blank_patterns(cls, patterns: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if patterns and any(not p.strip() for p in patterns):
            raise ValueError("refusal_patterns must not contain blank strings")
        return patterns

    def detector_languages(self) -> tuple[str, ...]:
        """What the detector chooses among: the candidates plus the allowed languages."""
        return tuple(sorted(set(self.language_candidates) | set(self.allowed_languages or ())))


# -- column helpers ----------------------------------------------------------------------------


def _text_column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        raise DatasetError(f"{STAGE}: the table has no {name!r} column (columns: {', '.join(table.column_names)})")
    return pc.fill_null(table.column(name).combine_chunks().cast(pa.string()), "")


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _hits(fails: np.ndarray, active: np.ndarray, verdict: Callable[[int], Verdict]) -> Iterator[tuple[int, Verdict]]:
    for i in np.flatnonzero(fails & active):
        yield int(i), verdict(int(i))


# -- vectorized checks -------------------------------------------------------------------------


def _truncation_check(table: pa.Table) -> Check | None:
    """finish_reason == "length" or truncated == True; None when the table has neither column."""
    names = table.column_names
    if "finish_reason" not in names and "truncated" not in names:
        return None
    fails = np.zeros(table.num_rows, dtype=bool)
    why = np.full(table.num_rows, "", dtype=object)
    if "truncated" in names:
        flagged = _np_bool(table.column("truncated").cast(pa.bool_()))
        why[flagged] = "truncated=True (hit max tokens)"
        fails |= flagged
    if "finish_reason" in names:
        flagged = _np_bool(pc.equal(table.column("finish_reason").cast(pa.string()), "length"))
        why[flagged] = "finish_reason 'length' (hit max tokens)"
        fails |= flagged
    return lambda active: _hits(fails, active, lambda i: ("truncated", why[i]))


def _bound_checks(field: str, text: pa.Array, cfg: HeuristicsConfig) -> list[Check]:
    """Min/max words, then min/max chars, for one text column."""
    measures = {
        "words": pc.fill_null(pc.count_substring_regex(text, r"[^\s\pZ]+"), 0).to_numpy(zero_copy_only=False),
        "chars": pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False),
    }
    checks: list[Check] = []
    for unit, values in measures.items():
        for side in ("min", "max"):
            limit = getattr(cfg, f"{side}_{field}_{unit}")
            if limit is not None:
                checks.append(_limit_check(values, field, unit, side, limit))
    return checks


def _limit_check(values: np.ndarray, field: str, unit: str, side: str, limit: int) -> Check:
    fails = values < limit if side == "min" else values > limit
    reason, sign = (f"{field}_too_short", "<") if side == "min" else (f"{field}_too_long", ">")
    return lambda active: _hits(fails, active, lambda i: (reason, f"{field} {values[i]} {unit} {sign} {side} {limit}"))


def _colon_check(instruction: pa.Array) -> Check:
    fails = _np_bool(pc.match_substring_regex(instruction, r"[:：]\s*$"))

    def verdict(i: int) -> Verdict:
        tail = instruction[i].as_py().rstrip()[-40:]
        return "instruction_ends_with_colon", f"instruction ends with ':' (...{tail!r}), nothing follows"

    return lambda active: _hits(fails, active, verdict)


def _phrase_regex(phrase: str) -> str:
    """A plain phrase as an RE2/Python regex: literal text, any apostrophe, a word boundary up front."""
    out = r"\b" if re.match(r"\w", phrase) else ""
    for ch in phrase:
        if ch in "'’":
            out += "['’]"
        elif ch in r"\.^$|?*+()[]{}":
            out += "\\" + ch
        else:
            out += ch
    return out


def _refusal_check(response: pa.Array, cfg: HeuristicsConfig) -> Check | None:
    if not cfg.refusal_patterns:
        return None
    window = cfg.refusal_window_chars
    head = pc.utf8_slice_codeunits(response, 0, window)
    fails = _np_bool(
        pc.match_substring_regex(head, "|".join(map(_phrase_regex, cfg.refusal_patterns)), ignore_case=True)
    )
    compiled = [(p, re.compile(_phrase_regex(p), re.IGNORECASE)) for p in cfg.refusal_patterns]

    def detail(i: int) -> Verdict:
        text = head[i].as_py()
        found = min(((m.start(), p) for p, rx in compiled if (m := rx.search(text))), default=(0, "?"))
        return "refusal", f"response has refusal {found[1]!r} at char {found[0]} (window {window} chars)"

    return lambda active: _hits(fails, active, detail)


def _judge_check(table: pa.Table, cfg: HeuristicsConfig) -> Check | None:
    if cfg.min_judge_score is None:
        return None
    return judge_check(table, cfg.judge_column, cfg.min_judge_score, cfg.reject_unscored)


def judge_check(table: pa.Table, column: str, min_score: float, reject_unscored: bool) -> Check | None:
    """Rows whose judge score is below `min_score` (and, with reject_unscored, rows without one):
    the standalone heuristics' judge check and the pipeline's judge_threshold stage."""
    name = column
    if name == "judge_score" and name not in table.column_names:
        name = "judge_quality"  # scored before the judge wrote judge_score
    if name not in table.column_names:
        return None
    column = table.column(name)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise DatasetError(f"{STAGE}: judge column {name!r} has type {column.type}, expected numbers")
    scores = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    unscored = np.isnan(scores)
    low = np.zeros_like(unscored)
    np.less(scores, min_score, out=low, where=~unscored)
    fails = low | (unscored & reject_unscored)

    def verdict(i: int) -> Verdict:
        if unscored[i]:
            return "unscored", f"{name} is null (reject_unscored=True)"
        return "low_judge_score", f"{name} {scores[i]:g} < min {min_score:g}"

    return lambda active: _hits(fails, active, verdict)


# -- per-row Python checks ---------------------------------------------------------------------

_WORD = re.compile(r"\w+")


_LAYOUT_CHARS = frozenset(" \t\r\n-=_*#~.|+:/\\─━═│")  # rules, tables, indentation, leaders


def char_loop(text: str, min_chars: int, max_unit: int) -> tuple[str, int] | None:
    """The first run of a 1..max_unit-char unit (not only layout characters) repeated over >= min_chars."""
    pattern = _loop_regex(max_unit)
    for m in pattern.finditer(text):
        if m.end() - m.start() >= min_chars and not set(m.group(1)) <= _LAYOUT_CHARS:
            return m.group(1), m.end() - m.start()
    return None


@functools.cache
def _loop_regex(max_unit: int) -> re.Pattern[str]:
    return re.compile(rf"(.{{1,{max_unit}}}?)\1+", re.DOTALL | re.IGNORECASE)


def ngram_repetition(text: str, n: int) -> float:
    """Share of word n-grams that repeat an earlier one: 1 - unique/total (0.0 for too few words)."""
    words = _WORD.findall(text.lower())
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def _python_check(texts: list[str], test: Callable[[str], Verdict | None]) -> Check:
    def run(active: np.ndarray) -> Iterator[tuple[int, Verdict]]:
        for i in np.flatnonzero(active):
            verdict = test(texts[i])
            if verdict is not None:
                yield int(i), verdict

    return run


def periodic_rows(texts: list[str], min_chars: int, max_unit: int, chunk_chars: int = 4_000_000) -> set[int]:
    """Indices of texts with a stretch of >= min_chars characters of period <= max_unit (ignoring case).

    A vectorized superset of `char_loop` hits: s[i] == s[i + u] over min_chars - u positions in a row.
    Texts are lowercased, joined with NUL and compared as one codepoint array per chunk.
    """
    found: set[int] = set()
    first = 0
    while first < len(texts):
        last, size = first, 0
        while last < len(texts) and (last == first or size + len(texts[last]) <= chunk_chars):
            size += len(texts[last]) + 1
            last += 1
        found |= {first + i for i in _periodic_chunk(texts[first:last], min_chars, max_unit)}
        first = last
    return found


def _periodic_chunk(texts: list[str], min_chars: int, max_unit: int) -> set[int]:
    lowered = [t.lower() for t in texts]
    offsets = np.cumsum([0] + [len(t) + 1 for t in lowered[:-1]])
    codes = np.frombuffer("\x00".join(lowered).encode("utf-32-le"), dtype=np.uint32)
    starts = []
    for unit in range(1, max_unit + 1):
        need = max(min_chars - unit, 1)
        if len(codes) - unit < need:
            continue
        equal = np.concatenate(([0], np.cumsum(codes[unit:] == codes[:-unit], dtype=np.int32)))
        starts.append(np.flatnonzero(equal[need:] - equal[:-need] == need))
    if not starts:
        return set()
    return set(np.unique(np.searchsorted(offsets, np.concatenate(starts), side="right") - 1).tolist())


def _loop_check(response: list[str], cfg: HeuristicsConfig) -> Check | None:
    min_chars, max_unit = cfg.char_loop_min_chars, cfg.char_loop_max_unit
    if min_chars is None:
        return None

    def run(active: np.ndarray) -> Iterator[tuple[int, Verdict]]:
        rows = np.flatnonzero(active)
        for j in sorted(periodic_rows([response[i] for i in rows], min_chars, max_unit)):
            found = char_loop(response[rows[j]], min_chars, max_unit)
            if found is not None:
                detail = f"response repeats {found[0]!r} over {found[1]} chars >= min {min_chars}"
                yield int(rows[j]), ("char_loop", detail)

    return run


def _repetition_check(response: list[str], cfg: HeuristicsConfig) -> Check | None:
    limit, n = cfg.max_ngram_repetition, cfg.repetition_ngram
    if limit is None:
        return None

    def test(text: str) -> Verdict | None:
        ratio = ngram_repetition(text, n)
        if ratio <= limit:
            return None
        return "ngram_repetition", f"response duplicate {n}-gram share {ratio:.2f} > max {limit:.2f}"

    return _python_check(response, test)


# -- junk detectors (filters.junk) ---------------------------------------------------------------

Texts = dict[str, list[str]]


def _pair_check(
    texts: Texts, reason: str, test: Callable[[str, str], str | None], skip: np.ndarray | None = None
) -> Check:
    """A per-row check on (instruction, response); `skip[i]` True leaves row i alone."""
    instructions, responses = texts["instruction"], texts["response"]

    def run(active: np.ndarray) -> Iterator[tuple[int, Verdict]]:
        rows = np.flatnonzero(active if skip is None else active & ~skip)
        for i in rows:
            detail = test(instructions[i], responses[i])
            if detail is not None:
                yield int(i), (reason, detail)

    return run


def _leak(instruction: str, response: str) -> str | None:
    if found := template_leak(instruction):
        return f"instruction: {found}"
    return None if (found := template_leak(response, instruction)) is None else f"response: {found}"


def _garbled(instruction: str, response: str) -> str | None:
    if found := garbled(instruction):
        return f"instruction: {found}"
    return None if (found := garbled(response, instruction)) is None else f"response: {found}"


def junk_checks(texts: Texts, cfg: HeuristicsConfig, phase: str, known_finish: np.ndarray | None = None) -> list[Check]:
    """The filters.junk detectors of one phase (early, echo, loops, cut_off) that the config turns on."""
    specs: dict[str, list[tuple[bool, str, Callable[[str, str], str | None]]]] = {
        "early": [
            (cfg.reject_non_requests, "instruction_not_a_request", lambda i, r: not_a_request(i)),
            (cfg.reject_template_leaks, "template_leak", _leak),
            (cfg.reject_garbled, "garbled_text", _garbled),
            (cfg.reject_placeholders, "placeholder", lambda i, r: placeholder(r, i)),
            (cfg.refusal_sentences is not None, "refusal",
             lambda i, r: refusal(r, cfg.refusal_sentences or 3, instruction=i)),
            (cfg.deflection_max_words is not None, "deflection",
             lambda i, r: deflection(r, max_words=cfg.deflection_max_words or 80, instruction=i)),
        ],
        "echo": [
            (cfg.echo_min_cover is not None, "echo",
             lambda i, r: echo(i, r, cfg.echo_min_cover or 0.8, cfg.echo_max_new_words)),
        ],
        "cut_off": [],
        "loops": [
            (cfg.max_sentence_repeats is not None, "repeated_sentence",
             lambda i, r: repeated_sentence(r, i, min_count=cfg.max_sentence_repeats or 3)),
        ],
    }  # fmt: skip
    checks = [_pair_check(texts, reason, test) for on, reason, test in specs[phase] if on]
    if phase == "cut_off" and cfg.cut_off_min_words is not None:
        words = cfg.cut_off_min_words
        checks.append(_pair_check(texts, "cut_off", lambda i, r: cut_off(r, words), known_finish))
    return checks


def _known_finish(table: pa.Table) -> np.ndarray | None:
    """Rows whose finish reason (or truncated flag) is known; text-based cut-off checks skip them."""
    known = np.zeros(table.num_rows, dtype=bool)
    for name in ("finish_reason", "truncated"):
        if name in table.column_names:
            known |= _np_bool(pc.is_valid(table.column(name)))
    return known


# -- language id -------------------------------------------------------------------------------

_CODE_BLOCK = re.compile(r"```.*?(```|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_URL = re.compile(r"https?://\S+|www\.\S+")


_LANGUAGE_NAMES: dict[str, str] = {lang.name.lower(): lang.iso_code_639_1.name.lower() for lang in Language.all()} | {
    "mandarin": "zh",
    "cantonese": "zh",
    "farsi": "fa",
    "castilian": "es",
    "brazilian": "pt",
}


@functools.lru_cache(maxsize=4)
def language_detector(codes: tuple[str, ...], low_accuracy: bool = False) -> LanguageDetector:
    """One lingua detector per process per language set; models load lazily on first use."""
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*(IsoCode639_1.from_str(c) for c in codes))
    return (builder.with_low_accuracy_mode() if low_accuracy else builder).build()


_MID_SENTENCE_WORD = re.compile(r"(?<=[\w,)’'”\]])(\s+)(\w[\w'’\-]*)")


def _drop_names(m: re.Match[str]) -> str:
    return m.group(1) if m.group(2)[0].isupper() else m.group(0)


def prose_for_language_id(text: str, max_chars: int) -> str:
    """The text without code, URLs and capitalized words inside a sentence (names such as "Søren
    Kierkegaard" or "Nguyễn Trãi" say little about the language the text is in), cut to max_chars."""
    text = _URL.sub(" ", _INLINE_CODE.sub(" ", _CODE_BLOCK.sub(" ", text)))
    return _MID_SENTENCE_WORD.sub(_drop_names, text)[:max_chars]


# English function words that are not common words of other languages ("is", "of", "to", "also", "will",
# "die", "an" are: Dutch, Polish, German...), and the wider set of English function words.
_ENGLISH_ONLY_LIST = (
    "the and that with this you are have which would should from your they what there been were their about "
    "these those them when into than then such only because how"
)
_ENGLISH_ONLY = frozenset(_ENGLISH_ONLY_LIST.split())
_ENGLISH_FUNCTION_LIST = (
    "a of to in is it for on as be by or not can at i we he she his her its our my do does did if so but all "
    "any each other here who where why has had was will also more some most"
)
_ENGLISH_FUNCTION = _ENGLISH_ONLY | frozenset(_ENGLISH_FUNCTION_LIST.split())
_ASCII_WORD = re.compile(r"[a-z]+")


def plainly_english(prose: str, min_words: int = 6, min_function: float = 0.3, min_only: float = 0.08) -> bool:
    """ASCII prose of >= min_words words, >= min_function of them English function words and >= min_only
    English-only ones ("the", "and", "with"...): lingua calls such text English, so the language check
    need not ask it. Verdicts are the same with and without this shortcut on the labeled and holdout
    sets (tests/filters/test_heuristics_fast.py) and on the bench rows (bench/scale.py --heuristics-rows)."""
    if not prose.isascii():
        return False
    words = _ASCII_WORD.findall(prose.lower())
    n = len(words)
    if n < min_words:
        return False
    return sum(w in _ENGLISH_FUNCTION for w in words) >= min_function * n and (
        sum(w in _ENGLISH_ONLY for w in words) >= min_only * n
    )


def detect_languages(
    texts: list[str], cfg: HeuristicsConfig, unjudged: Callable[[str], bool] | None = None
) -> list[tuple[str, float] | None]:
    """Per text: (ISO 639-1 code, confidence) of its most likely language, or None if too short to judge
    (or `unjudged(prose)` says lingua need not be asked)."""
    prose = [prose_for_language_id(t, cfg.language_max_chars) for t in texts]
    judged = [
        i
        for i, p in enumerate(prose)
        if not (unjudged is not None and unjudged(p)) and sum(c.isalpha() for c in p) >= cfg.language_min_letters
    ]
    out: list[tuple[str, float] | None] = [None] * len(texts)
    if not judged:
        return out
    detector = language_detector(cfg.detector_languages(), cfg.language_low_accuracy)
    batch = [prose[i] for i in judged]
    if cfg.language_parallel:
        results = detector.compute_language_confidence_values_in_parallel(batch)
    else:
        results = [detector.compute_language_confidence_values(p) for p in batch]
    for i, values in zip(judged, results, strict=True):
        if values:
            out[i] = values[0].language.iso_code_639_1.name.lower(), values[0].value
    return out


def _named_languages(instruction: str) -> set[str]:
    """ISO codes of languages the instruction names ("translate into French" allows a French answer)."""
    named = set(_WORD.findall(instruction.lower())) & set(_LANGUAGE_NAMES)
    return {_LANGUAGE_NAMES[w] for w in named}


def _language_parts(texts: list[str], rows: np.ndarray, max_chars: int) -> tuple[list[int], list[str]]:
    """(row, text) pairs to judge: each text's start, plus its end when the text is longer than 2*max_chars."""
    owners, parts = [], []
    for i in rows:
        text = texts[i]
        owners.append(int(i))
        parts.append(text)
        if len(text) > 2 * max_chars:
            owners.append(int(i))
            parts.append(text[-max_chars:])
    return owners, parts


def _language_check(columns: Texts, cfg: HeuristicsConfig, fast: bool = True) -> Check | None:
    allowed = cfg.allowed_languages
    if allowed is None:
        return None
    floor = cfg.min_language_confidence
    unjudged = plainly_english if fast and "en" in allowed else None
    asked = [_named_languages(t) for t in columns["instruction"]]

    def run(active: np.ndarray) -> Iterator[tuple[int, Verdict]]:
        rows = np.flatnonzero(active)
        for field, texts in columns.items():
            owners, parts = _language_parts(texts, rows, cfg.language_max_chars)
            failed: dict[int, Verdict] = {}
            for i, found in zip(owners, detect_languages(parts, cfg, unjudged), strict=True):
                ok = set(allowed) | (asked[i] if field == "response" else set())
                if i not in failed and found is not None and found[0] not in ok and found[1] >= floor:
                    detail = f"{field} language {found[0]} (confidence {found[1]:.2f} >= min {floor:.2f})"
                    failed[i] = ("wrong_language", f"{detail}, allowed: {', '.join(allowed)}")
            yield from failed.items()
            rows = np.asarray([i for i in rows if i not in failed], dtype=np.int64)

    return run


# -- the stage ---------------------------------------------------------------------------------


def _checks(table: pa.Table, cfg: HeuristicsConfig, fast: bool = True) -> Iterator[Check]:
    """The checks in their documented order; texts become Python lists only when a check needs them."""
    instruction, response = _text_column(table, "instruction"), _text_column(table, "response")
    optional: list[Check | None] = [_truncation_check(table) if cfg.reject_truncated else None]
    optional += [*_bound_checks("instruction", instruction, cfg), *_bound_checks("response", response, cfg)]
    optional += [_colon_check(instruction) if cfg.reject_instruction_colon else None]
    yield from (c for c in optional if c is not None)
    texts = {"instruction": instruction.to_pylist(), "response": response.to_pylist()}
    yield from junk_checks(texts, cfg, "early")
    later = [_refusal_check(response, cfg), _judge_check(table, cfg)]
    yield from (c for c in later if c is not None)
    yield from junk_checks(texts, cfg, "echo")
    responses = texts["response"]
    loops = [_loop_check(responses, cfg), _repetition_check(responses, cfg)]
    yield from (c for c in loops if c is not None)
    yield from junk_checks(texts, cfg, "loops")
    yield from junk_checks(texts, cfg, "cut_off", _known_finish(table))
    language = _language_check(texts, cfg, fast)
    yield from [] if language is None else [language]


def heuristic_verdicts(table: pa.Table, cfg: HeuristicsConfig, fast: bool = True) -> list[Verdict | None]:
    """verdicts[i]: None to keep row i, else (reason, detail) of the first failing check.
    `fast=False` asks lingua about every text, also plainly English ones (the reference path in tests)."""
    verdicts: list[Verdict | None] = [None] * table.num_rows
    active = np.ones(table.num_rows, dtype=bool)
    for check in _checks(table, cfg, fast):
        if not active.any():
            break
        for i, verdict in list(check(active)):
            verdicts[i] = verdict
            active[i] = False
    return verdicts


class Heuristics(Frozen):
    """The heuristics stage: `run(rows, ctx) -> StageResult` (schemas/stage.py), or
    `Heuristics(config=HeuristicsConfig(...))(table)`."""

    version: ClassVar[str] = "1"
    inputs: ClassVar[tuple[str, ...]] = ("instruction", "response")  # the rest (judge score, finish_reason) if there
    outputs: ClassVar[tuple[str, ...]] = ()
    config: HeuristicsConfig = HeuristicsConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """The stage contract (schemas/stage.py): no model needed."""
        started = time.perf_counter()
        verdicts = heuristic_verdicts(rows, self.config)
        return split_rows(rows, STAGE, verdicts, raw_column="response", started=started).named(ctx.name)

    def __call__(self, table: pa.Table) -> StageResult:
        """`run` under the name "heuristics"."""
        return self.run(table, context(STAGE))
