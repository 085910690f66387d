import json

import pyarrow as pa
import pytest
from pydantic import ValidationError

from filters.heuristics import (
    Heuristics,
    HeuristicsConfig,
    char_loop,
    detect_languages,
    language_detector,
    ngram_repetition,
    periodic_rows,
)
from schemas.errors import DatasetError
from schemas.stage import context
from tests.flows.helpers import stage_result

# A small candidate set keeps lingua's lazy model loading to about a second in tests.
LANGS = ("en", "de", "fr", "es")

GOOD_INSTRUCTION = "Explain how photosynthesis works in green plants."
GOOD_RESPONSE = (
    "Plants capture sunlight with chlorophyll and use that energy to turn water and carbon dioxide "
    "into glucose, releasing oxygen as a by-product."
)


def config(**overrides) -> HeuristicsConfig:
    return HeuristicsConfig(language_candidates=LANGS, language_parallel=False, **overrides)


def run(pairs: list[tuple[str, str]], extra: dict[str, list] | None = None, **overrides):
    return heuristics(table(pairs, extra), **overrides)


def heuristics(rows: pa.Table, **overrides):
    """The stage as the pipeline runs it: `run(rows, ctx)` with a real StageContext."""
    return Heuristics(config=config(**overrides)).run(rows, context("heuristics"))


def table(pairs: list[tuple[str, str]], extra: dict[str, list] | None = None) -> pa.Table:
    """SFT rows (the shared helper's schema and lineage) with our own instruction/response texts."""
    t = stage_result([f"row {i}" for i in range(len(pairs))]).rows
    for name, values in (("instruction", [p[0] for p in pairs]), ("response", [p[1] for p in pairs])):
        t = t.set_column(t.schema.get_field_index(name), name, pa.array(values, pa.string()))
    for name, values in (extra or {}).items():
        t = t.append_column(name, pa.array(values))
    return t


def only_reject(result) -> dict:
    assert result.stats.rejected == 1, result.rejects.select(["reason", "detail"]).to_pylist()
    return result.rejects.to_pylist()[0]


def test_clean_rows_pass_and_counts_add_up():
    pairs = [(GOOD_INSTRUCTION, GOOD_RESPONSE), ("Write a haiku about autumn leaves falling.", GOOD_RESPONSE)]
    rows = table(pairs)
    result = heuristics(rows)
    assert result.stats.rows_in == 2 == result.stats.rows_out
    assert result.rejects.num_rows == 0
    assert result.rows.equals(rows)


def test_reject_keeps_raw_text_record_and_lineage():
    t = table([(GOOD_INSTRUCTION, GOOD_RESPONSE), ("Hi there", GOOD_RESPONSE)])
    result = heuristics(t)
    s = result.stats
    assert (s.name, s.rows_in, s.rows_out, s.rejected) == ("heuristics", 2, 1, 1)
    assert s.rows_in == s.rows_out + s.rejected == result.rows.num_rows + result.rejects.num_rows
    reject = result.rejects.to_pylist()[0]
    assert reject["stage"] == "heuristics"
    assert reject["raw_text"] == GOOD_RESPONSE
    record = json.loads(reject["record"])
    assert record["instruction"] == "Hi there" and record["id"] == t.column("id")[1].as_py()
    assert reject["run_id"] == "r" and reject["generator"] == "magpie"


@pytest.mark.parametrize(
    ("overrides", "pair", "reason", "detail"),
    [
        ({}, ("Why?", GOOD_RESPONSE), "instruction_too_short", "instruction 1 words < min 2"),
        ({"max_instruction_words": 5}, (GOOD_INSTRUCTION, GOOD_RESPONSE), "instruction_too_long",
         "instruction 7 words > max 5"),
        ({"min_instruction_chars": 60}, (GOOD_INSTRUCTION, GOOD_RESPONSE), "instruction_too_short",
         "instruction 49 chars < min 60"),
        ({"min_response_words": 5}, (GOOD_INSTRUCTION, "Yes, it does."), "response_too_short",
         "response 3 words < min 5"),
        ({"max_response_words": 10}, (GOOD_INSTRUCTION, GOOD_RESPONSE), "response_too_long",
         "response 22 words > max 10"),
        ({"max_response_chars": 100}, (GOOD_INSTRUCTION, GOOD_RESPONSE), "response_too_long",
         "response 141 chars > max 100"),
    ],
)  # fmt: skip
def test_length_bounds(overrides, pair, reason, detail):
    reject = only_reject(run([pair], **overrides))
    assert (reject["reason"], reject["detail"]) == (reason, detail)


def test_disabled_bounds_let_rows_through():
    pair = ("Why?", "Yes, it does.")
    assert run([pair], min_instruction_words=None, min_response_words=None).stats.rejected == 0


def test_instruction_ending_with_colon():
    reject = only_reject(run([("Rewrite the following paragraph in a formal tone:  ", GOOD_RESPONSE)]))
    assert reject["reason"] == "instruction_ends_with_colon"
    assert "in a formal tone:" in reject["detail"]
    assert run([("Rewrite the following paragraph in a formal tone:", GOOD_RESPONSE)],
               reject_instruction_colon=False).stats.rejected == 0  # fmt: skip


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        ("I'm sorry, but I can't help with writing that kind of content for you.", "inability"),
        ("I’m sorry, but I can’t help with writing that kind of content for you.", "inability"),
        ("Well. As an AI language model, I do not have personal opinions about that.", "ai_identity"),
        ("i cannot provide medical advice, please consult a doctor about your symptoms.", "inability"),
        ("I'm sorry for any confusion, but as a chatbot designed to assist users, I don't have the capability to "
         "browse websites.", "ai_identity"),
        ("Thanks for asking! Unfortunately I must respectfully decline to write that essay.", "decline"),
    ],
)  # fmt: skip
def test_refusals(response, kind):
    reject = only_reject(run([(GOOD_INSTRUCTION, response)]))
    assert reject["reason"] == "refusal"
    assert reject["detail"].startswith(kind + " ")


def test_refusal_far_from_start_or_disabled_is_kept():
    late = GOOD_RESPONSE + " Without light, growth stops. Leaves wilt. As an AI, I cannot verify this."
    assert run([(GOOD_INSTRUCTION, late)]).stats.rejected == 0
    early = "I cannot stress enough how much plants depend on sunlight to make their food."
    assert run([(GOOD_INSTRUCTION, early)]).stats.rejected == 0  # no refusal verb after "cannot"
    sorry = "Sorry to hear that. Plants need sunlight, so move yours next to a bright window."
    assert run([(GOOD_INSTRUCTION, sorry)]).stats.rejected == 0
    refusing = "I am unable to explain that."
    assert run([(GOOD_INSTRUCTION, refusing)], refusal_sentences=None).stats.rejected == 0


def test_extra_refusal_phrases():
    early = "I cannot stress enough how much plants depend on sunlight to make their food."
    reject = only_reject(run([(GOOD_INSTRUCTION, early)], refusal_patterns=("I cannot",)))
    assert reject["detail"] == "response has refusal 'I cannot' at char 0 (window 100 chars)"


def test_judge_score_threshold_and_unscored_rows():
    pairs = [(GOOD_INSTRUCTION, GOOD_RESPONSE)] * 3
    scores = {"judge_quality": pa.array([5, 2, None], pa.int64())}
    result = run(pairs, scores)
    reject = only_reject(result)
    assert (reject["reason"], reject["detail"]) == ("low_judge_score", "judge_quality 2 < min 3")
    strict = run(pairs, scores, reject_unscored=True)
    assert strict.rejects.column("reason").to_pylist() == ["low_judge_score", "unscored"]
    assert run(pairs, scores, min_judge_score=None).stats.rejected == 0
    other = run(pairs, {"score": [1.0, 4.5, 3.5]}, judge_column="score", min_judge_score=4)
    assert other.rejects.column("detail").to_pylist() == ["score 1 < min 4", "score 3.5 < min 4"]


def test_judge_column_must_be_numeric():
    with pytest.raises(DatasetError, match="judge_quality"):
        run([(GOOD_INSTRUCTION, GOOD_RESPONSE)], {"judge_quality": ["good"]})


def test_truncation_columns_and_their_absence():
    pairs = [(GOOD_INSTRUCTION, GOOD_RESPONSE)] * 3
    by_reason = run(pairs, {"finish_reason": ["stop", "length", None]})
    reject = only_reject(by_reason)
    assert (reject["reason"], reject["detail"]) == ("truncated", "finish_reason 'length' (hit max tokens)")
    by_flag = run(pairs, {"truncated": [True, False, None]})
    assert only_reject(by_flag)["detail"] == "truncated=True (hit max tokens)"
    assert run(pairs, {"truncated": [True, True, True]}, reject_truncated=False).stats.rejected == 0
    assert run(pairs).stats.rejected == 0  # neither column: the check is skipped


@pytest.mark.parametrize(
    ("tail", "unit"),
    [(" 1.1.1.1" + ".1" * 40, "1."), (" Mmmmm" + "m" * 60, "M"), (" ha" * 30, " ha")],
)
def test_char_loops(tail, unit):
    reject = only_reject(run([(GOOD_INSTRUCTION, GOOD_RESPONSE + tail)], max_ngram_repetition=None))
    assert reject["reason"] == "char_loop"
    assert f"repeats {unit!r} over" in reject["detail"] and "chars >= min 50" in reject["detail"]


def test_markdown_rules_and_tables_are_not_loops():
    response = (
        GOOD_RESPONSE + "\n\n" + "-" * 80 + "\n| a | b |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    assert run([(GOOD_INSTRUCTION, response)]).stats.rejected == 0


def test_loop_prefilter_is_a_superset_of_char_loop():
    texts = ["x" * 49, "x" * 50, "ab" * 25, "-" * 60, GOOD_RESPONSE, "", "Zz" + "z" * 48, "1.1." * 13]
    flagged = periodic_rows(texts, 50, 10)
    hits = {i for i, t in enumerate(texts) if char_loop(t, 50, 10)}
    assert hits == {1, 2, 6, 7} and hits <= flagged
    assert periodic_rows(texts, 50, 10, chunk_chars=30) == flagged  # chunking changes nothing


def test_ngram_repetition():
    looped = "The answer is yes because the answer is yes because the answer is yes because it is."
    reject = only_reject(run([(GOOD_INSTRUCTION, looped)]))
    assert reject["reason"] == "ngram_repetition"
    assert reject["detail"] == "response duplicate 3-gram share 0.53 > max 0.30"
    assert ngram_repetition(GOOD_RESPONSE, 3) == 0.0
    assert ngram_repetition("two words", 3) == 0.0
    assert run([(GOOD_INSTRUCTION, looped)], max_ngram_repetition=None).stats.rejected == 0


def test_non_english_rows_rejected_by_language_id():
    german = "Erkläre bitte ausführlich, wie die Photosynthese in grünen Pflanzen funktioniert."
    french = "Les plantes utilisent la lumière du soleil pour transformer l'eau et le dioxyde de carbone en sucre."
    result = run([(german, GOOD_RESPONSE), (GOOD_INSTRUCTION, french), (GOOD_INSTRUCTION, GOOD_RESPONSE)])
    reasons = result.rejects.select(["reason", "detail"]).to_pylist()
    assert [r["reason"] for r in reasons] == ["wrong_language", "wrong_language"]
    assert reasons[0]["detail"].startswith("instruction language de (confidence ")
    assert reasons[1]["detail"].startswith("response language fr (confidence ")
    assert reasons[1]["detail"].endswith(">= min 0.50), allowed: en")
    assert result.rows.column("instruction").to_pylist() == [GOOD_INSTRUCTION]
    allowed = run([(german, GOOD_RESPONSE), (GOOD_INSTRUCTION, french)], allowed_languages=("en", "de", "fr"))
    assert allowed.stats.rejected == 0
    assert run([(german, GOOD_RESPONSE)], allowed_languages=None).stats.rejected == 0


def test_language_id_ignores_code_and_short_texts():
    code = "```python\ndef hallo_welt():\n    return 'Guten Tag, wie geht es Ihnen heute?'\n```\nThis prints it."
    found = detect_languages([code, "Hola amigo", GOOD_RESPONSE], config())
    assert found[0] is None and found[1] is None  # too few letters left to judge
    assert found[2] is not None and found[2][0] == "en"
    assert run([(GOOD_INSTRUCTION, GOOD_RESPONSE + "\n" + code)]).stats.rejected == 0


def test_detector_is_built_once_per_language_set():
    assert language_detector(("de", "en")) is language_detector(("de", "en"))
    assert config(allowed_languages=("it",)).detector_languages() == ("de", "en", "es", "fr", "it")


def test_first_failing_check_wins_in_documented_order():
    said = "As an AI, I cannot help with that request today. "
    pair = ("Thanks <|im_end|>:", said * 3 + "Also the")
    assert only_reject(run([pair], {"finish_reason": ["length"]}))["reason"] == "truncated"
    extra = {"judge_quality": [1]}
    relaxed: dict = dict(min_instruction_words=3)
    expected = [
        ("instruction_too_short", "min_instruction_words", None),
        ("instruction_ends_with_colon", "reject_instruction_colon", False),
        ("instruction_not_a_request", "reject_non_requests", False),
        ("template_leak", "reject_template_leaks", False),
        ("refusal", "refusal_sentences", None),
        ("low_judge_score", "min_judge_score", None),
        ("ngram_repetition", "max_ngram_repetition", None),
        ("repeated_sentence", "max_sentence_repeats", None),
        ("cut_off", "cut_off_min_words", None),
    ]
    for reason, knob, off in expected:
        assert only_reject(run([pair], extra, **relaxed))["reason"] == reason
        relaxed[knob] = off
    assert run([pair], extra, **relaxed).stats.rejected == 0


def test_garbled_rows_are_rejected_and_the_check_can_be_turned_off():
    pair = ("Who painted the Mona Lisa?", "Leonardo da Vinci painted it in Florence \ufffd around 1503.")
    got = only_reject(run([pair, ("What is 2 + 2?", "Four.")]))
    assert got["reason"] == "garbled_text" and got["detail"].startswith("response: 1 U+FFFD")
    assert run([pair], reject_garbled=False).stats.rejected == 0


def test_placeholder_answers_are_rejected_unless_a_template_is_asked_for():
    lazy = ("Write a Python function that adds two numbers.", "Here you go:\n\n[Insert code here]")
    asked = ("Write a code template for a Python function.", "Here you go:\n\n[Insert code here]")
    got = only_reject(run([lazy, asked]))
    assert got["reason"] == "placeholder" and "[Insert code here]" in got["detail"]
    assert run([lazy], reject_placeholders=False).stats.rejected == 0


def test_empty_table_and_nulls():
    empty = stage_result([]).rows
    result = heuristics(empty)
    assert (result.stats.rows_in, result.stats.rows_out, result.stats.rejected) == (0, 0, 0)
    assert result.rows.schema == empty.schema and result.rejects.num_rows == 0
    nulls = pa.table({"instruction": pa.array([None], pa.string()), "response": [GOOD_RESPONSE]})
    assert only_reject(heuristics(nulls))["detail"] == "instruction 0 words < min 2"


def test_missing_text_column_is_a_clear_error():
    with pytest.raises(DatasetError, match="no 'response' column"):
        heuristics(pa.table({"instruction": [GOOD_INSTRUCTION]}))


def test_config_is_validated():
    with pytest.raises(ValidationError, match="unknown ISO 639-1"):
        HeuristicsConfig(allowed_languages=("english",))
    with pytest.raises(ValidationError, match="use None"):
        HeuristicsConfig(allowed_languages=())
    with pytest.raises(ValidationError):
        HeuristicsConfig(min_words=3)
    assert HeuristicsConfig(allowed_languages=("EN",)).allowed_languages == ("en",)
