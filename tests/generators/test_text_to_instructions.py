import json
import re
from pathlib import Path

import pytest

from generators.text_to_instructions import (
    AUGMENT_HEADER,
    AUGMENTED_SCHEMA,
    OTHER_TASK,
    Pair,
    ParsedPairs,
    TextToInstructions,
    TextToInstructionsConfig,
    grounding,
    parse_pairs,
)
from readers.documents import Document, documents_table, make_document, read_documents
from schemas.config import parse_config
from schemas.engine import Completion, Engine
from schemas.errors import ConfigError, EngineUnavailableError
from schemas.result import Reject, StageResult
from schemas.rows import REJECT_SCHEMA, SFT_SCHEMA
from schemas.stage import context
from tests.fakes import ScriptedEngine

TASKS = ("factual_qa", "summarization", "reasoning", "extraction")
TIDES = (
    "Tides are the regular rise and fall of the sea. The Moon's gravity pulls the oceans into two bulges, "
    "so most coasts see two high tides a day. Spring tides happen when the Sun and Moon line up."
)
BEES = (
    "A honeybee colony has one queen, many workers and some drones. Workers build comb from wax, "
    "raise larvae and forage for nectar. Foragers share the location of food with the waggle dance."
)


def out(text: str, finish: str = "stop") -> Completion:
    return Completion(text, finish, 50, 40)


def pairs_json(*pairs: tuple[str, str, str]) -> str:
    return json.dumps({"pairs": [{"task": t, "question": q, "answer": a} for t, q, a in pairs]})


def stage(**kw) -> TextToInstructions:
    return TextToInstructions(config=TextToInstructionsConfig(**kw))


def passage_of(messages: list[dict[str, str]]) -> str:
    return re.search(r"<<<\n(.*)\n>>>", messages[-1]["content"], re.S).group(1)


# -- parsing -------------------------------------------------------------------------------------


def test_parses_constrained_json():
    text = pairs_json(
        ("factual_qa", "What pulls the oceans?", "The Moon's gravity."), ("reasoning", "Why?", "Because.")
    )
    parsed = parse_pairs(out(text), TASKS)
    assert isinstance(parsed, ParsedPairs) and parsed.method == "json"
    assert parsed.items == [
        Pair("factual_qa", "What pulls the oceans?", "The Moon's gravity."),
        Pair("reasoning", "Why?", "Because."),
    ]


def test_finds_json_inside_prose_and_fences():
    text = "Sure! Here you go:\n```json\n" + pairs_json(("made_up", " Q1? ", " A1. ")) + "\n```\nHope it helps."
    parsed = parse_pairs(out(text), TASKS)
    assert parsed.method == "json_extracted"
    assert parsed.items == [Pair(OTHER_TASK, "Q1?", "A1.")]  # unknown task -> other; whitespace stripped
    bare_list = json.dumps([{"task": "extraction", "question": "List bees.", "answer": "Queen, workers."}])
    assert parse_pairs(out(bare_list), TASKS).items == [Pair("extraction", "List bees.", "Queen, workers.")]


def test_truncated_json_keeps_complete_pairs_and_drops_the_last():
    full = pairs_json(
        ("factual_qa", "What is a tide?", "The rise and fall of the sea."), ("reasoning", "Why two?", "Bulges")
    )
    cut = full[: full.index("Bulges") + 3]
    parsed = parse_pairs(out(cut, "length"), TASKS)
    assert parsed.method == "json_salvaged"
    assert parsed.items[0] == Pair("factual_qa", "What is a tide?", "The rise and fall of the sea.")
    assert isinstance(parsed.items[1], Reject) and parsed.items[1].reason == "pair_incomplete"
    assert parsed.items[1].raw_text.startswith('{"task": "reasoning"')
    assert parsed.items[1].detail == "cut off at max_tokens"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "synthesis_empty"),
        ("   \n", "synthesis_empty"),
        ("I cannot help with that, the passage is about tides.", "synthesis_unparseable"),
        ('{"pairs": [', "synthesis_no_pairs"),
        ('{"pairs": []}', "synthesis_no_pairs"),
        ("{not json at all}", "synthesis_unparseable"),
    ],
)
def test_unusable_outputs_are_rejects_with_raw_text(text: str, reason: str):
    parsed = parse_pairs(out(text), TASKS)
    assert isinstance(parsed, Reject) and parsed.reason == reason and parsed.raw_text == text


def test_malformed_items_are_item_rejects():
    text = json.dumps({"pairs": [{"question": "Only a question?"}, {"question": 3, "answer": "x"}, "just text"]})
    parsed = parse_pairs(out(text), TASKS)
    assert [p.reason for p in parsed.items] == ["pair_incomplete", "pair_malformed", "pair_malformed"]


def test_plain_q_a_fallback():
    text = (
        "Here are the pairs.\n\n"
        "Q: What pulls the oceans into bulges?\nA: The Moon's gravity.\n\n"
        "**Question 2 (Reasoning):** Why do most coasts see two high tides?\n"
        "**Answer:** Because there are two bulges\nand the Earth turns through both.\n"
        "3. Q: When do spring tides happen?\n"
    )
    parsed = parse_pairs(out(text), TASKS)
    assert parsed.method == "qa_text"
    assert parsed.items[0] == Pair(OTHER_TASK, "What pulls the oceans into bulges?", "The Moon's gravity.")
    assert parsed.items[1] == Pair(
        "reasoning",
        "Why do most coasts see two high tides?",
        "Because there are two bulges\nand the Earth turns through both.",
    )
    assert isinstance(parsed.items[2], Reject) and parsed.items[2].reason == "pair_incomplete"


def test_truncated_q_a_drops_the_last_answer():
    text = "Q: What is a tide?\nA: The rise and fall of the sea.\nQ: What are spring tides?\nA: Tides when the Sun and"
    parsed = parse_pairs(out(text, "length"), TASKS)
    assert parsed.items[0] == Pair(OTHER_TASK, "What is a tide?", "The rise and fall of the sea.")
    assert parsed.items[1].reason == "pair_incomplete" and "Tides when the Sun and" in parsed.items[1].raw_text


# -- grounding -----------------------------------------------------------------------------------


def test_grounding_keeps_supported_and_flags_invented_answers():
    supported = Pair("factual_qa", "Why two high tides?", "The Moon's gravity pulls the oceans into two bulges.")
    paraphrase = Pair("factual_qa", "When are spring tides?", "They happen when the Moon and the Sun are lined up.")
    short = Pair("factual_qa", "How many high tides do most coasts see each day?", "Two.")
    invented = Pair("factual_qa", "Who discovered tides?", "Isaac Newton discovered them in 1687 in Cambridge.")
    assert grounding(supported, TIDES).score == 1.0
    assert grounding(paraphrase, TIDES).score >= 0.75
    assert grounding(short, TIDES).score >= 0.75  # checked together with its question
    assert grounding(invented, TIDES).score < 0.3 and grounding(invented, TIDES).partial_ratio < 90


# -- the stage -----------------------------------------------------------------------------------


def scripted(outputs: dict[str, str | Completion]) -> ScriptedEngine:
    """Answers each chunk by the first word of its passage."""
    return ScriptedEngine(lambda p, sp: "", lambda m, sp: outputs[passage_of(m).split()[0]])


def run(s: TextToInstructions, docs: list[Document], engine: Engine, run_id: str = "r") -> StageResult:
    """The stage as the pipeline runs it: documents as Arrow rows, `run(rows, ctx)` with a real StageContext."""
    return s.run(documents_table(docs), context("text_to_instructions", engine, run_id))


def test_stage_builds_both_products_and_counts_add_up():
    tides_out = pairs_json(
        (
            "factual_qa",
            "What pulls the oceans into two bulges?",
            "The Moon's gravity pulls the oceans into two bulges.",
        ),
        ("summarization", "what pulls the oceans into two bulges", "Duplicate question, different case."),
        ("reasoning", "Who first explained tides?", "Isaac Newton explained them in 1687 at Cambridge University."),
        ("extraction", "What does the text say about tides?", "Tides are the regular rise and fall of the sea."),
        ("factual_qa", "When do spring tides happen?", "Spring tides happen when the Sun and Moon line up."),
    )
    bees_out = (
        "Q: What do workers build comb from?\nA: Workers build comb from wax.\nQ: Who is<|im_end|>?\nA: The queen."
    )
    engine = scripted({"Tides": tides_out, "A": bees_out, "Nothing": "no pairs here, sorry"})
    docs = [make_document("t.md", TIDES), make_document("b.md", BEES), make_document("n.md", "Nothing to see here.")]
    result = run(stage(), docs, engine, "run-9")

    assert engine.calls == [("chat", 3)]  # every chunk of the shard in one batched call
    assert engine.json_schemas[0]["properties"]["pairs"]["maxItems"] == 3
    s = result.stats
    assert (s.rows_in, s.rows_out, s.rejected) == (8, 3, 5)
    s.check()
    assert s.prompt_tokens == 30 and s.completion_tokens > 0
    reasons = sorted(result.rejects.column("reason").to_pylist())
    assert reasons == sorted(
        [
            "duplicate_question",
            "ungrounded_answer",
            "question_needs_context",
            "pair_template_leak",
            "synthesis_unparseable",
        ]
    )
    assert result.rows.schema == SFT_SCHEMA and result.rejects.schema == REJECT_SCHEMA
    corpus = result.extra["corpus"]
    assert corpus.schema == AUGMENTED_SCHEMA and corpus.num_rows == 3


def test_rows_carry_lineage_and_the_augmented_format():
    tides_out = pairs_json(
        ("factual_qa", "What pulls the oceans into two bulges?", "The Moon's gravity."),
        ("summarization", "When do spring tides happen?", "When the Sun and Moon line up."),
    )
    engine = scripted({"Tides": tides_out})
    doc = make_document("t.md", TIDES)
    result = run(stage(keep_unaugmented_chunks=False), [doc], engine, "run-1")
    rows = result.rows.to_pylist()
    (chunk,) = stage().chunk([doc])  # the scripted engine has no tokenizer: whitespace words, as in the run
    assert [r["instruction"] for r in rows] == [
        "What pulls the oceans into two bulges?",
        "When do spring tides happen?",
    ]
    row = rows[0]
    assert row["messages"] == [
        {"role": "user", "content": "What pulls the oceans into two bulges?"},
        {"role": "assistant", "content": "The Moon's gravity."},
    ]
    assert row["parent_ids"] == [chunk.id, doc.id] and row["source_kind"] == "text"
    assert row["generator"] == "text_to_instructions" and row["template_name"] == "synthesize_pairs"
    assert row["model_id"] == "scripted" and row["run_id"] == "run-1" and len(row["template_hash"]) == 16
    assert json.loads(row["sampling"])["temperature"] == 0.7 and row["seed"] == stage().chunk_seed(chunk)
    (aug,) = result.extra["corpus"].to_pylist()
    assert aug["text"] == (
        f"{TIDES}\n\n{AUGMENT_HEADER}\n\n"
        "Q: What pulls the oceans into two bulges?\nA: The Moon's gravity.\n\n"
        "Q: When do spring tides happen?\nA: When the Sun and Moon line up."
    )
    assert (aug["chunk_id"], aug["doc_id"], aug["n_pairs"], aug["doc_source"]) == (chunk.id, doc.id, 2, "t.md")
    assert (aug["chunk_start"], aug["chunk_end"]) == (0, len(TIDES)) and aug["parent_ids"] == [chunk.id, doc.id]


def test_failed_chunks_are_kept_raw_in_the_corpus_unless_told_otherwise():
    engine = scripted({"Tides": out("garbage", "length")})
    doc = make_document("t.md", TIDES)
    result = run(stage(), [doc], engine)
    assert result.extra["corpus"].column("text").to_pylist() == [TIDES]
    assert result.extra["corpus"].column("n_pairs").to_pylist() == [0]
    rej = result.rejects.to_pylist()[0]
    assert (
        rej["reason"] == "synthesis_unparseable"
        and rej["raw_text"] == "garbage"
        and rej["stage"] == "text_to_instructions"
    )
    assert json.loads(rej["record"])["chunk_id"] == stage().chunk([doc])[0].id
    assert run(stage(keep_unaugmented_chunks=False), [doc], engine).extra["corpus"].num_rows == 0


def test_context_questions_when_not_standalone():
    tides_out = pairs_json(("factual_qa", "What does the passage say pulls the oceans?", "The Moon's gravity."))
    result = run(stage(standalone_questions=False), [make_document("t.md", TIDES)], scripted({"Tides": tides_out}))
    (row,) = result.rows.to_pylist()
    assert row["instruction"] == f"{TIDES}\n\nWhat does the passage say pulls the oceans?"


def test_same_pair_from_overlapping_chunks_is_kept_once():
    words = [f"word{i}" for i in range(30)]
    text = " ".join([*words[:24], "tides rise.", *words[24:]])
    same = pairs_json(("factual_qa", "What rises?", "Tides rise."))
    engine = ScriptedEngine(lambda p, sp: "", lambda m, sp: same)
    result = run(stage(chunk_tokens=16, overlap_tokens=4), [make_document("w.txt", text)], engine)
    assert result.extra["corpus"].num_rows == 3  # one corpus row per chunk
    # chunk 1 lacks "tides rise" (ungrounded); chunks 2 and 3 both contain it -> one row, one duplicate
    assert result.stats.rows_out == 1
    assert sorted(result.rejects.column("reason").to_pylist()) == ["duplicate_pair", "ungrounded_answer"]


def test_each_chunk_gets_its_seed_and_a_rotating_task_plan():
    seen = []

    def on_chat(messages, sp):
        seen.append((sp, messages[-1]["content"]))
        return pairs_json(("factual_qa", "Q?", "A."))

    docs = [make_document("s", f"text {i}") for i in range(8)]  # one chunk each
    s = stage(pairs_per_chunk=2, tasks=("factual_qa", "reasoning", "comparison"), system_prompt="Be exact.")
    run(s, docs, ScriptedEngine(lambda p, sp: "", on_chat))
    chunks = s.chunk(docs)
    assert len({sp.seed for sp, _ in seen}) == 8 and all(sp.temperature == 0.7 for sp, _ in seen)
    plans = [re.findall(r"^\d\. (\w+):", prompt, re.M) for _, prompt in seen]
    assert all(len(p) == 2 and p[0] != p[1] for p in plans)
    assert {t for p in plans for t in p} == {"factual_qa", "reasoning", "comparison"}
    msgs = s.format_input(chunks[0], s.template())
    assert msgs[0] == {"role": "system", "content": "Be exact."}


def test_uses_the_engine_tokenizer_when_it_has_one():
    class WithTokenizer(ScriptedEngine):
        tokenizer = staticmethod(lambda text: [(m.start(), m.end()) for m in re.finditer(r"\w+|\W", text)])

    class Broken(ScriptedEngine):
        @property
        def tokenizer(self):
            raise EngineUnavailableError("no local tokenizer")

    doc = make_document("t.md", TIDES)  # 35 words; many more word-or-punctuation tokens
    answer = pairs_json(("factual_qa", "Q?", "A."))
    by_tokens = run(stage(chunk_tokens=40, overlap_tokens=0), [doc], WithTokenizer(None, lambda m, sp: answer))
    by_words = run(stage(chunk_tokens=40, overlap_tokens=0), [doc], Broken(None, lambda m, sp: answer))
    assert by_tokens.extra["corpus"].num_rows > 1 and by_words.extra["corpus"].num_rows == 1  # a row per chunk


def test_empty_input_makes_no_engine_call():
    engine = scripted({})
    result = run(stage(), [], engine)
    assert engine.calls == [] and result.stats.rows_in == 0 and result.extra["corpus"].num_rows == 0


def test_config_is_validated():
    with pytest.raises(ConfigError, match="unknown tasks"):
        parse_config(TextToInstructionsConfig, {"tasks": ["poetry"]}, "test")
    with pytest.raises(ConfigError, match="overlap_tokens"):
        parse_config(TextToInstructionsConfig, {"chunk_tokens": 64, "overlap_tokens": 64}, "test")
    custom = parse_config(TextToInstructionsConfig, {"tasks": ["poetry"], "custom_tasks": {"poetry": "a poem"}}, "t")
    assert custom.guides()["poetry"] == "a poem"
    assert stage().config.read.text_field == "text"


# -- the demo corpus -----------------------------------------------------------------------------

CORPUS = Path(__file__).resolve().parents[2] / "data" / "seeds" / "corpus"


def test_demo_corpus_reads_and_runs_end_to_end():
    docs, skipped = read_documents([str(CORPUS / "[!R]*.md")])
    assert skipped == [] and len(docs) == len(list(CORPUS.glob("[!R]*.md"))) == 8
    assert all(200 <= len(d.text.split()) <= 600 for d in docs)
    assert "Apache" in (CORPUS.parent / "README.md").read_text(encoding="utf-8")

    def first_sentence(messages, sp):
        sentence = re.search(r"[A-Z][^.#\n]{20,}\.", passage_of(messages)).group(0)
        return pairs_json(("factual_qa", f"What is said about {sentence.split()[1]}?", sentence))

    t2i = stage(chunk_tokens=200, overlap_tokens=20)
    result = run(t2i, docs, ScriptedEngine(None, first_sentence), "demo")
    s = result.stats
    assert s.rows_in == s.rows_out + s.rejected and s.rows_out > len(docs)
    assert result.extra["corpus"].num_rows == len(t2i.chunk(docs)) > len(docs)


def test_the_convenience_call_is_run_with_its_products_apart():
    tides_out = pairs_json(("factual_qa", "What pulls the oceans into two bulges?", "The Moon's gravity."))
    doc = make_document("t.md", TIDES)
    called = stage()([doc], scripted({"Tides": tides_out}), "r")
    ran = run(stage(), [doc], scripted({"Tides": tides_out}))
    assert called.sft.rows.column("id").equals(ran.rows.column("id")) and called.sft.extra == {}
    assert called.sft.stats.name == ran.stats.name == "text_to_instructions"
    assert called.augmented.column("id").equals(ran.extra["corpus"].column("id"))
    assert [c.id for c in called.chunks] == ran.extra["corpus"].column("chunk_id").to_pylist()
