import json

import pytest

from generators.magpie import Magpie, looks_like_request, seeds_table
from schemas.config import MagpieConfig
from schemas.engine import Completion, Engine
from schemas.result import Reject, StageResult
from schemas.stage import context
from tests.fakes import ScriptedEngine

QUESTIONS = ["How do tides work?", "Write a haiku about rain.", "What is a monad, briefly?"]


def magpie(**kw) -> Magpie:
    return Magpie(config=MagpieConfig(**kw))


def run_magpie(engine: Engine, n: int, run_id: str = "r", **kw) -> StageResult:
    """`n` conversations (seeds 0..n-1) as the pipeline runs them: `run(rows, ctx)` with a real StageContext."""
    return magpie(**kw).run(seeds_table(0, n), context("magpie", engine, run_id))


def cycling_engine(outputs: list[str | Completion]) -> ScriptedEngine:
    counter = iter(range(10**6))
    return ScriptedEngine(
        lambda prompt, sp: outputs[next(counter) % len(outputs)],
        lambda messages, sp: f"Answer to: {messages[-1]['content']}",
    )


@pytest.mark.parametrize(
    "text", ["How do I sort a list?", "Write a poem about cats", "I need help with taxes", "Explain entropy to a child"]
)
def test_requests(text):
    assert looks_like_request(text)


@pytest.mark.parametrize("text", ["The weather was nice today.", "Summarizing, it's all in Rome.", ""])
def test_not_requests(text):
    assert not looks_like_request(text)


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        (Completion("How does a very long", "length", 5, 128), "instruction_truncated"),
        (Completion("   \n", "stop", 5, 1), "instruction_empty"),
        (Completion("Tell me<|im_start|>assistant", "stop", 5, 6), "instruction_template_leak"),
        (Completion("Translate the following text:", "stop", 5, 5), "instruction_ends_with_colon"),
        (Completion("Why?", "stop", 5, 2), "instruction_too_short"),
        (Completion("The sky is blue and wide.", "stop", 5, 6), "instruction_not_a_request"),
    ],
)
def test_parse_instruction_rejects_with_reason_and_raw_text(completion, reason):
    out = magpie().parse_instruction(completion, ("<|im_start|>", "<|im_end|>"))
    assert isinstance(out, Reject)
    assert out.reason == reason
    assert out.raw_text == completion.text


def test_parse_instruction_accepts_and_strips():
    assert magpie().parse_instruction(Completion("  How do tides work?\n", "stop", 5, 5), ()) == "How do tides work?"


def test_format_input_is_the_pre_query_template():
    engine = cycling_engine(QUESTIONS)
    assert magpie().format_input(engine, []).endswith("<|im_start|>user\n")
    assert magpie(system_prompt="S").format_input(engine, []).startswith("<|im_start|>system\nS<|im_end|>")


def test_run_counts_add_up_and_rows_carry_lineage():
    outputs = [*QUESTIONS, Completion("Runaway text", "length", 5, 128), "Just a statement here."]
    engine = cycling_engine(outputs)
    result = run_magpie(engine, 10, "run-1")
    s = result.stats
    assert s.rows_in == 10 and s.rows_in == s.rows_out + s.rejected
    assert result.rows.num_rows == s.rows_out == 3  # the 3 questions, each repeated twice -> duplicates
    reasons = sorted(result.rejects.column("reason").to_pylist())
    assert reasons.count("duplicate_conversation") == 3
    assert reasons.count("instruction_truncated") == 2
    assert reasons.count("instruction_not_a_request") == 2
    row = result.rows.to_pylist()[0]
    assert row["source_kind"] == "magpie" and row["run_id"] == "run-1" and row["model_id"] == "scripted"
    assert row["messages"][0] == {"role": "user", "content": row["instruction"]}
    assert row["response"] == f"Answer to: {row['instruction']}"
    assert json.loads(row["sampling"])["instruction"]["temperature"] == 1.0
    assert len(row["template_hash"]) == 16 and len(row["id"]) == 32
    assert len(set(result.rows.column("id").to_pylist())) == result.rows.num_rows


def test_engine_is_called_in_batches_not_per_row():
    engine = cycling_engine(QUESTIONS)
    run_magpie(engine, 30)
    assert engine.calls == [("complete", 30), ("chat", 30)]


def test_each_conversation_gets_its_own_seed_and_the_stop_marker():
    seen = []

    def on_complete(prompt, sp):
        seen.append(sp)
        return f"What is {len(seen)} plus one?"

    run_magpie(ScriptedEngine(on_complete, lambda m, sp: "ok"), 5)
    assert len({sp.seed for sp in seen}) == 5
    assert all("<|im_end|>" in sp.stop and sp.temperature == 1.0 for sp in seen)


def test_multi_turn_builds_alternating_conversations():
    n = iter(range(1000))
    engine = ScriptedEngine(lambda p, sp: f"Question number {next(n)}, why?", lambda m, sp: f"reply {len(m)}")
    result = run_magpie(engine, 3, turns=3)
    assert result.rows.num_rows == 3
    roles = [m["role"] for m in result.rows.to_pylist()[0]["messages"]]
    assert roles == ["user", "assistant"] * 3
    assert engine.calls == [("complete", 3), ("chat", 3)] * 3


def test_a_failed_later_turn_rejects_with_turn_number_and_keeps_raw():
    answers = iter(["Tell me about owls?", "Tell me about cats?", "owls.", "Explain dogs please"])
    engine = ScriptedEngine(lambda p, sp: next(answers), lambda m, sp: "fine")
    result = run_magpie(engine, 2, turns=2)
    assert result.stats.rows_in == 2 and result.stats.rows_out == 1 and result.stats.rejected == 1
    rej = result.rejects.to_pylist()[0]
    assert rej["reason"] == "instruction_too_short" and rej["detail"].startswith("turn 2:")
    assert rej["raw_text"] == "owls."
    assert json.loads(rej["record"])["messages"][0]["content"] == "Tell me about owls?"


def test_truncated_response_is_rejected_not_kept():
    engine = ScriptedEngine(lambda p, sp: "How do magnets work?", lambda m, sp: Completion("Mmmm", "length", 5, 384))
    result = run_magpie(engine, 1)
    assert result.rows.num_rows == 0
    assert result.rejects.column("reason").to_pylist() == ["response_truncated"]


def test_the_convenience_call_is_run_on_config_n_seeds():
    engine = cycling_engine(QUESTIONS)
    called = magpie(n=4, seed=7)(engine, "r")
    ran = magpie().run(seeds_table(7, 4), context("magpie", cycling_engine(QUESTIONS), "r"))
    assert called.rows.column("id").equals(ran.rows.column("id")) and called.stats.name == ran.stats.name == "magpie"
    assert called.rows.column("seed").to_pylist() == [7, 8, 9]  # the 4th repeats the 1st question: a duplicate
