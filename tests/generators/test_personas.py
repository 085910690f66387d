import json

import pyarrow as pa
import pytest

from filters.dedup import DedupConfig
from filters.dedup.personas import PersonaDedup, dedup_report, near_duplicate_rate
from generators.personas import (
    PERSONA_DEDUP,
    PERSONA_SCHEMA,
    SEED_PERSONAS,
    ExpandPersonas,
    PersonaRow,
    Personas,
    PersonasConfig,
    PersonasFromText,
    PersonaTasks,
    PersonaTasksConfig,
    load_seed_personas,
    parse_persona,
    persona_id,
)
from schemas.engine import Completion
from schemas.errors import ConfigError
from schemas.result import Reject
from schemas.rows import SFT_SCHEMA
from schemas.stage import context
from schemas.templates import load_template
from tests.fakes import ScriptedEngine

SPECIAL = ("<|im_start|>", "<|im_end|>")


def as_json(persona: str) -> str:
    return json.dumps({"persona": persona})


def chunk_text(messages) -> str:
    return messages[-1]["content"].split("### Text\n", 1)[1]


def parent_and_relation(messages) -> tuple[str, str]:
    prompt = messages[-1]["content"]
    parent = prompt.split("person:\n\n", 1)[1].split("\n\n", 1)[0]
    relation = prompt.split("this person's ", 1)[1].split(". Describe", 1)[0]
    return parent, relation


def personas_table(texts: list[str]) -> pa.Table:
    rows = [
        PersonaRow(
            id=persona_id(t),
            persona=t,
            origin="seed",
            source_kind="seed",
            generator="test",
            generator_version="1",
            model_id="",
            template_name="t",
            template_hash="h",
            sampling="{}",
            seed=0,
            run_id="r",
            parent_ids=[],
            created_at="2025-01-01T00:00:00Z",
        ).model_dump()
        for t in texts
    ]
    return pa.Table.from_pylist(rows, schema=PERSONA_SCHEMA)


PEOPLE = [
    "A retired ferry captain in Bergen who now repairs wooden rowing boats for the local sailing club.",
    "A 15-year-old in Quito who wants to become a volcanologist and reads every eruption report she can find.",
]


# ---------------------------------------------------------------- seeds


def test_bundled_seed_list_is_large_and_varied():
    table = load_seed_personas(SEED_PERSONAS, run_id="r1")
    assert table.schema == PERSONA_SCHEMA
    assert table.num_rows >= 180
    rows = table.to_pylist()
    assert {r["origin"] for r in rows} == {"seed"}
    assert all(r["parent_ids"] == [] and r["run_id"] == "r1" for r in rows)
    assert len(set(table.column("id").to_pylist())) == table.num_rows
    assert near_duplicate_rate(table) < 0.05


def test_seed_loader_skips_blank_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(as_json(PEOPLE[0]) + "\n\n" + as_json("  " + PEOPLE[1] + "  ") + "\n", encoding="utf-8")
    table = load_seed_personas(path)
    assert table.column("persona").to_pylist() == PEOPLE
    assert table.column("template_name").to_pylist() == ["p.jsonl", "p.jsonl"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "expected an object"),
        ('{"persona": "ok person here", "age": 3}', "unknown key"),
        ('{"persona": "   "}', "non-empty string"),
        ('{"text": "wrong key"}', "unknown key"),
    ],
)
def test_bad_seed_line_names_file_and_line(tmp_path, bad, message):
    path = tmp_path / "seeds.jsonl"
    path.write_text(as_json(PEOPLE[0]) + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        load_seed_personas(path)
    assert f"{path}:2:" in str(err.value)


def test_persona_row_rejects_unknown_origin():
    row = personas_table(PEOPLE[:1]).to_pylist()[0]
    with pytest.raises(ValueError, match="origin"):
        PersonaRow(**{**row, "origin": "invented"})


def test_persona_id_ignores_case_punctuation_and_spacing():
    assert persona_id("A nurse in  Lagos.") == persona_id("a nurse in lagos")
    assert persona_id("A nurse in Lagos") != persona_id("A nurse in Accra")


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        (Completion('{"persona": "A baker who', "length", 5, 160), "persona_truncated"),
        (Completion("A baker in Lyon who wakes at four.", "stop", 5, 9), "persona_invalid_json"),
        (Completion('{"person": "A baker in Lyon who wakes at four."}', "stop", 5, 9), "persona_schema_mismatch"),
        (Completion(as_json("x" * 401), "stop", 5, 9), "persona_schema_mismatch"),
        (Completion(as_json('  ""  '), "stop", 5, 9), "persona_empty"),
        (Completion(as_json("A baker<|im_end|> in Lyon who wakes early"), "stop", 5, 9), "persona_template_leak"),
        (Completion(as_json("I'm sorry, but I cannot describe a person."), "stop", 5, 9), "persona_refusal"),
        (Completion(as_json("A baker."), "stop", 5, 9), "persona_too_short"),
        (
            Completion(as_json("A baker in Lyon. She is tired. She sings. She runs."), "stop", 5, 9),
            "persona_too_many_sentences",
        ),
    ],
)
def test_parse_persona_rejects_with_reason_and_raw_text(completion, reason):
    out = parse_persona(completion, SPECIAL, PersonasConfig())
    assert isinstance(out, Reject)
    assert out.reason == reason
    assert out.raw_text == completion.text


def test_parse_persona_cleans_quotes_and_spaces():
    c = Completion(as_json('  "A baker in   Lyon who wakes at four."  '), "stop", 5, 9)
    assert parse_persona(c, SPECIAL, PersonasConfig()) == "A baker in Lyon who wakes at four."


# ---------------------------------------------------------------- text to persona


def test_personas_from_text_one_batched_constrained_call_with_lineage():
    engine = ScriptedEngine(
        lambda p, sp: "", lambda m, sp: as_json(f"Someone who enjoys reading about {chunk_text(m)}")
    )
    chunks = pa.table({"id": ["c1", "c2"], "text": ["tidal energy in Brittany", "sourdough starters"]})
    result = PersonasFromText(config=PersonasConfig(seed_file=None)).run(
        chunks, context("persona_from_text", engine, "run-7")
    )
    assert engine.calls == [("chat", 2)]
    schema = engine.json_schemas[0]
    assert schema["properties"]["persona"]["maxLength"] == 400 and schema["additionalProperties"] is False
    rows = result.rows.to_pylist()
    assert result.rows.schema == PERSONA_SCHEMA
    assert [r["origin"] for r in rows] == ["from_text", "from_text"]
    assert [r["parent_ids"] for r in rows] == [["c1"], ["c2"]]
    assert rows[0]["persona"] == "Someone who enjoys reading about tidal energy in Brittany"
    assert rows[0]["id"] == persona_id(rows[0]["persona"])
    template = load_template("persona_from_text")
    assert rows[0]["template_name"] == "persona_from_text" and rows[0]["template_hash"] == template.hash
    assert rows[0]["run_id"] == "run-7" and rows[0]["model_id"] == "scripted"
    assert json.loads(rows[0]["sampling"])["persona"]["temperature"] == 0.7
    assert rows[0]["seed"] != rows[1]["seed"]


def test_personas_from_text_junk_becomes_rejects_and_counts_add_up():
    replies = {
        "good": as_json("A tide-table enthusiast on the Breton coast who fishes at dawn."),
        "cut": Completion('{"persona": "A tide', "length", 5, 160),
        "junk": Completion("<|im_start|>assistant blah", "stop", 5, 3),
        "same": as_json("A tide-table enthusiast on the Breton coast who fishes at dawn!"),
    }
    engine = ScriptedEngine(lambda p, sp: "", lambda m, sp: replies[chunk_text(m)])
    chunks = pa.table({"id": ["a", "b", "c", "d", "e"], "text": ["good", "cut", "junk", "same", "   "]})
    result = PersonasFromText(config=PersonasConfig(seed_file=None)).run(
        chunks, context("persona_from_text", engine, "r")
    )
    s = result.stats
    assert (s.rows_in, s.rows_out, s.rejected) == (5, 1, 4)
    assert engine.calls == [("chat", 4)]  # the empty chunk is never sent
    rejects = {r["record"]: r for r in result.rejects.to_pylist()}
    reasons = {json.loads(k)["chunk_id"]: v["reason"] for k, v in rejects.items()}
    assert reasons == {
        "b": "persona_truncated",
        "c": "persona_invalid_json",
        "d": "duplicate_persona",
        "e": "source_text_empty",
    }
    cut = next(r for r in rejects.values() if r["reason"] == "persona_truncated")
    assert cut["raw_text"] == '{"persona": "A tide' and cut["stage"] == "persona_from_text"
    assert cut["parent_ids"] == ["b"]


def test_personas_from_text_needs_its_columns():
    engine = ScriptedEngine(lambda p, sp: "", lambda m, sp: "")
    with pytest.raises(ConfigError, match="missing column"):
        PersonasFromText().run(pa.table({"id": ["a"], "body": ["x"]}), context("persona_from_text", engine, "r"))


# ---------------------------------------------------------------- expansion


def related_engine() -> ScriptedEngine:
    def on_chat(messages, sp):
        parent, relation = parent_and_relation(messages)
        return as_json(f"The {relation} of someone described as: {parent.lower()}")

    return ScriptedEngine(lambda p, sp: "", on_chat)


def test_expansion_makes_n_related_personas_per_persona():
    engine = related_engine()
    stage = ExpandPersonas(config=PersonasConfig(seed_file=None, expand_per_persona=3))
    result = stage.run(personas_table(PEOPLE), context("persona_expand", engine, "r"))
    assert engine.calls == [("chat", 6)]
    assert (result.stats.rows_in, result.stats.rows_out, result.stats.rejected) == (6, 6, 0)
    rows = result.rows.to_pylist()
    assert {r["origin"] for r in rows} == {"expanded"}
    for parent in PEOPLE:
        children = [r for r in rows if r["parent_ids"] == [persona_id(parent)]]
        assert len(children) == 3
        relations = {c["persona"].split(" of someone")[0] for c in children}
        assert len(relations) == 3  # each child from a different relation
    assert rows[0]["template_name"] == "persona_expand" and rows[0]["source_kind"] == "persona"


def test_expansion_rejects_a_copy_of_the_parent():
    engine = ScriptedEngine(lambda p, sp: "", lambda m, sp: as_json(parent_and_relation(m)[0].upper()))
    stage = ExpandPersonas(config=PersonasConfig(expand_per_persona=2))
    result = stage.run(personas_table(PEOPLE[:1]), context("persona_expand", engine, "r"))
    assert result.rows.num_rows == 0
    assert result.rejects.column("reason").to_pylist() == ["persona_same_as_parent", "persona_same_as_parent"]
    record = json.loads(result.rejects.column("record")[0].as_py())
    assert record["parent_id"] == persona_id(PEOPLE[0]) and record["relation"]


def test_user_expand_template_from_a_folder(tmp_path):
    (tmp_path / "my_expand.jinja").write_text(
        'Describe the {{ relation }} of: {{ persona }}. Answer {"persona": "..."}', encoding="utf-8"
    )
    seen = []

    def on_chat(messages, sp):
        seen.append(messages[-1]["content"])
        return as_json("A sailmaker in Bergen who stitches canvas for the ferry captain's boats.")

    cfg = PersonasConfig(expand_template="my_expand", template_dirs=(tmp_path,), expand_per_persona=1)
    engine = ScriptedEngine(lambda p, sp: "", on_chat)
    result = ExpandPersonas(config=cfg).run(personas_table(PEOPLE[:1]), context("persona_expand", engine, "r"))
    assert seen[0].startswith("Describe the ") and PEOPLE[0] in seen[0]
    assert result.rows.column("template_name").to_pylist() == ["my_expand"]


# ---------------------------------------------------------------- dedup


def test_persona_dedup_reuses_the_shared_dedup_with_persona_hub_settings():
    assert isinstance(PERSONA_DEDUP, DedupConfig)
    assert (PERSONA_DEDUP.ngram, PERSONA_DEDUP.num_perm, PERSONA_DEDUP.threshold) == (1, 128, 0.9)
    assert PERSONA_DEDUP.text_columns == ("persona",)
    texts = [
        PEOPLE[0],
        PEOPLE[1],
        PEOPLE[0].replace("Bergen", "Bergen,"),  # exact after normalization
        PEOPLE[1].replace("Quito", "Cuenca"),  # near
    ]
    result = PersonaDedup().run(personas_table(texts), context("persona_dedup"))
    assert result.rows.column("persona").to_pylist() == PEOPLE
    assert (result.stats.name, result.stats.rows_in, result.stats.rows_out, result.stats.rejected) == (
        "persona_dedup",
        4,
        2,
        2,
    )
    rejects = result.rejects.to_pylist()
    assert sorted(r["reason"] for r in rejects) == ["exact_duplicate", "near_duplicate"]
    assert {r["raw_text"] for r in rejects} == set(texts[2:])
    assert all(r["stage"] == "persona_dedup" and "kept=" in r["detail"] for r in rejects)


def test_dedup_report_before_and_after():
    texts = [*PEOPLE, PEOPLE[0].replace("rowing", "racing"), PEOPLE[1].replace("15", "16")]
    report = dedup_report(personas_table(texts))
    assert (report.rows_before, report.rows_after) == (4, 2)
    assert report.rate_before == 0.5 and report.rate_after == 0.0
    assert near_duplicate_rate(personas_table([])) == 0.0


def test_seed_list_plus_reworded_copies_is_deduped_back():
    seeds = load_seed_personas()
    copies = [t.replace(" who ", " that ", 1) for t in seeds.column("persona").to_pylist()[:20]]
    report = dedup_report(pa.concat_tables([seeds, personas_table(copies)]))
    assert report.rate_before >= 20 / (seeds.num_rows + 20) - 1e-9
    assert report.rows_after == seeds.num_rows and report.rate_after == 0.0


# ---------------------------------------------------------------- the whole build


def test_personas_build_counts_add_up(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(as_json(p) for p in PEOPLE) + "\n", encoding="utf-8")

    def on_chat(messages, sp):
        if "### Text" in messages[-1]["content"]:
            text = chunk_text(messages)
            return as_json(PEOPLE[0] if text == "boats" else f"A keen reader of articles about {text}")
        parent, relation = parent_and_relation(messages)
        if parent == PEOPLE[1]:
            return as_json(PEOPLE[0].replace("rowing", "racing"))  # a near copy of the first seed
        return as_json(f"The {relation} of someone described as: {parent.lower()}")

    engine = ScriptedEngine(lambda p, sp: "", on_chat)
    chunks = pa.table({"id": ["k1", "k2"], "text": ["boats", "glaciers and their retreat"]})
    build = Personas(config=PersonasConfig(seed_file=seeds, expand_per_persona=1), dedup=PersonaDedup())
    result = build.run(chunks, context("personas", engine, "r"))
    s = result.stats
    # 2 seeds + 2 chunks; the from-text copy of a seed is dropped before expansion; 3 expansions
    # (2 seeds + 1 from text), one a near copy of a seed, dropped by the final dedup.
    assert s.rows_in == 7 and (s.rows_out, s.rejected) == (5, 2)
    assert engine.calls == [("chat", 2), ("chat", 3)]
    assert sorted(result.rows.column("origin").to_pylist()) == ["expanded"] * 2 + ["from_text", "seed", "seed"]
    assert result.rejects.column("reason").to_pylist() == ["exact_duplicate", "near_duplicate"]
    assert set(result.rejects.column("stage").to_pylist()) == {"persona_dedup"}
    assert result.rejects.column("raw_text").to_pylist() == [PEOPLE[0], PEOPLE[0].replace("rowing", "racing")]


# ---------------------------------------------------------------- persona x tasks


def task_engine(instruction=None, response=None) -> ScriptedEngine:
    def on_chat(messages, sp):
        if messages[-1]["content"].startswith("Here is a short description"):
            persona = messages[-1]["content"].split("person:\n\n", 1)[1].split("\n\n", 1)[0]
            task = messages[-1]["content"].rsplit("\n\n", 1)[1][:30]
            return instruction(messages) if instruction else f"Help {persona.lower()} with: {task}?"
        return response(messages) if response else f"Answer to: {messages[-1]['content']}"

    return ScriptedEngine(lambda p, sp: "", on_chat)


def test_persona_tasks_rows_carry_template_and_persona():
    engine = task_engine()
    stage = PersonaTasks(config=PersonaTasksConfig(per_persona=2))
    result = stage.run(personas_table(PEOPLE), context("persona_tasks", engine, "run-3"))
    assert engine.calls == [("chat", 12), ("chat", 12)]  # 2 personas x 3 templates x 2
    assert result.rows.schema == SFT_SCHEMA
    rows = result.rows.to_pylist()
    assert (result.stats.rows_in, result.stats.rows_out, result.stats.rejected) == (12, 6, 6)
    assert set(result.rejects.column("reason").to_pylist()) == {"duplicate_conversation"}  # same script per index
    names = {r["template_name"] for r in rows}
    assert names == {"persona_user_prompt", "persona_math_problem", "persona_article"}
    for r in rows:
        assert r["template_hash"] == load_template(r["template_name"]).hash
        assert r["parent_ids"][0] in {persona_id(p) for p in PEOPLE}
        assert r["messages"][0] == {"role": "user", "content": r["instruction"]}
        assert r["response"] == f"Answer to: {r['instruction']}"
        assert r["source_kind"] == "persona" and r["run_id"] == "run-3"
        sampling = json.loads(r["sampling"])
        assert sampling["instruction"]["temperature"] == 0.7 and sampling["response"]["temperature"] == 0.7


def test_persona_tasks_seeds_differ_per_sample():
    seen = []

    def instruction(messages):
        seen.append(messages)
        return f"Please give me idea number {len(seen)} for my boat club."

    engine = task_engine(instruction)
    stage = PersonaTasks(config=PersonaTasksConfig(per_persona=3))
    result = stage.run(personas_table(PEOPLE[:1]), context("persona_tasks", engine, "r"))
    assert result.stats.rows_out == 9
    assert len(set(result.rows.column("seed").to_pylist())) == 9


def test_persona_tasks_rejects_with_reasons_and_raw_text():
    bad = iter(
        [
            Completion("How do I size the oars for a", "length", 5, 320),
            "   ",
            "Tell me<|im_start|> about oars please",
            "Sure! Here is a question the captain might ask.",
            "Oars?",
            "How should I varnish a clinker-built dinghy?",
        ]
    )

    def response(messages):
        return Completion("Start by sanding", "length", 5, 1024)

    engine = task_engine(lambda m: next(bad), response)
    cfg = PersonaTasksConfig(templates=("persona_user_prompt",), per_persona=6)
    result = PersonaTasks(config=cfg).run(personas_table(PEOPLE[:1]), context("persona_tasks", engine, "r"))
    assert (result.stats.rows_in, result.stats.rows_out, result.stats.rejected) == (6, 0, 6)
    rejects = result.rejects.to_pylist()
    assert [r["reason"] for r in rejects] == [
        "instruction_truncated",
        "instruction_empty",
        "instruction_template_leak",
        "instruction_preamble",
        "instruction_too_short",
        "response_truncated",
    ]
    assert rejects[0]["raw_text"] == "How do I size the oars for a"
    assert rejects[-1]["raw_text"] == "Start by sanding"
    assert all(r["parent_ids"] == [persona_id(PEOPLE[0])] and r["stage"] == "persona_tasks" for r in rejects)
    assert json.loads(rejects[-1]["record"])["messages"][0]["content"].startswith("How should I varnish")


def test_user_task_template_file_works_without_code_changes(tmp_path):
    path = tmp_path / "recipe_request.jinja"
    path.write_text("As {{ persona }}, ask an assistant for a recipe (sample {{ index }}).", encoding="utf-8")

    def on_chat(messages, sp):
        content = messages[-1]["content"]
        if content.startswith("As "):
            return "Could you give me a hearty fish stew recipe for a cold harbour evening?"
        return "Here is a stew."

    engine = ScriptedEngine(lambda p, sp: "", on_chat)
    stage = PersonaTasks(config=PersonaTasksConfig(templates=(str(path),)))
    result = stage.run(personas_table(PEOPLE[:1]), context("persona_tasks", engine, "r"))
    row = result.rows.to_pylist()[0]
    assert row["template_name"] == "recipe_request" and row["template_hash"] == load_template(str(path)).hash
    assert row["response"] == "Here is a stew."

    by_name = PersonaTasks(config=PersonaTasksConfig(templates=("recipe_request",), template_dirs=(tmp_path,)))
    assert [t.name for t in by_name.templates()] == ["recipe_request"]


def test_task_template_must_use_persona(tmp_path):
    path = tmp_path / "generic.jinja"
    path.write_text("Ask me anything.", encoding="utf-8")
    with pytest.raises(ConfigError, match="never uses"):
        PersonaTasks(config=PersonaTasksConfig(templates=(str(path),))).templates()


def test_missing_task_template_is_a_config_error():
    with pytest.raises(ConfigError, match="not found"):
        PersonaTasks(config=PersonaTasksConfig(templates=("no_such_template",))).templates()


def test_persona_tasks_system_prompt_goes_to_the_answer_only():
    chats = []

    def on_chat(messages, sp):
        chats.append(messages)
        if len(messages) == 1:
            return "What wood is best for the thwarts of a rowing boat?"
        return "Oak or ash."

    stage = PersonaTasks(config=PersonaTasksConfig(templates=("persona_user_prompt",), system_prompt="Be brief."))
    engine = ScriptedEngine(lambda p, sp: "", on_chat)
    result = stage.run(personas_table(PEOPLE[:1]), context("persona_tasks", engine, "r"))
    assert chats[1][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in result.rows.to_pylist()[0]["messages"]] == ["system", "user", "assistant"]
