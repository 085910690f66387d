"""The filters.junk detectors on their own: what each one catches and the look-alikes it keeps."""

import json
from pathlib import Path

import pytest

from filters.junk.cutoff import cut_off
from filters.junk.echo import echo, request_part
from filters.junk.garbled import garbled
from filters.junk.leaks import template_leak
from filters.junk.loops import repeated_sentence
from filters.junk.placeholders import placeholder
from filters.junk.refusal import deflection, refusal
from filters.junk.requests import not_a_request


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        ("I'm sorry for any confusion, but as a chatbot designed to assist users, I don't have the capability to "
         "do that.", "ai_identity"),
        ("Being an AI, I don't watch films.", "ai_identity"),
        ("Great question! Sadly I'm not able to browse the web.", "inability"),
        ("Hello! Regrettably, I won't be able to draft that letter.", "inability"),
        ("That isn't something I can help with.", "inability"),
        ("My apologies, but this falls outside what I'm designed to do.", "inability"),
        ("I am not a licensed doctor, so please see one.", "inability"),
        ("Thanks for asking. I must respectfully decline.", "decline"),
        ("I'd rather not write that, since it goes against my guidelines.", "decline"),
    ],
)  # fmt: skip
def test_refusals_in_many_phrasings(response, kind):
    found = refusal(response)
    assert found is not None and found.startswith(kind), found


@pytest.mark.parametrize(
    "response",
    [
        "Sorry to hear that. Try resting the ankle and icing it for 20 minutes.",
        "I cannot stress enough how important sleep is.",
        "As an AI researcher, you would read many papers.",
        "It is not possible to divide by zero: no number times zero gives 5.",
        "Penguins can't fly; their wings became flippers.",
        "Here is the answer. " * 4 + "As an AI, I cannot browse.",  # past the opening sentences
    ],
)
def test_look_alikes_are_not_refusals(response):
    assert refusal(response) is None


def test_a_phrase_the_instruction_asks_for_is_not_a_refusal():
    said = '"Thank you, but I must decline," she wrote.'
    assert refusal(said, instruction="Use 'I must decline' in a sentence.") is None
    assert refusal(said) is not None


def test_deflections_need_a_short_answer_and_no_input_in_the_instruction():
    assert deflection("Could you please provide the text you want summarized?")
    assert deflection("I'm not sure which chapter you are referring to.")
    assert deflection("Please send me your essay and I'll check it.")
    long = "Please provide the text. " + "Here is a general overview of the topic anyway. " * 12
    assert deflection(long) is None
    rewrite = "Make this formal: hey can you send me the report quick"
    assert deflection("Could you please send me the report?", instruction=rewrite) is None


@pytest.mark.parametrize(
    ("instruction", "response"),
    [
        ("Write a short guide on coral reefs for tourists.", "Write a short guide on coral reefs for tourists."),
        ("As a nurse, describe night shifts.", "As a nurse, I would describe night shifts."),
        ("How can teachers motivate students who struggle?", "How can teachers motivate students who are "
         "struggling? Many ask this."),
        ("What is the history of the Eiffel Tower?", "The history of the Eiffel Tower."),
        ("Explain tides.", "Sure! Here's an explanation: explain tides."),
    ],
)  # fmt: skip
def test_echoes(instruction, response):
    assert echo(instruction, response) is not None


@pytest.mark.parametrize(
    ("instruction", "response"),
    [
        ("What is the capital of France?", "The capital of France is Paris."),
        ("Is 17 prime?", "Yes, 17 is a prime number."),
        ("Fix the typos: 'Teh quick brown fox jumpd over the lazy dog near the barn.'",
         "The quick brown fox jumped over the lazy dog near the barn."),
        ("Which is bigger, 0.5 or 0.25?", "0.5 is bigger."),
        ("Explain recursion.", "Recursion is when a function calls itself on a smaller input."),
    ],
)  # fmt: skip
def test_answers_that_reuse_words_are_not_echoes(instruction, response):
    assert echo(instruction, response) is None


def test_request_part_stops_at_the_payload():
    assert request_part("Fix the typo: 'Teh cat'") == "Fix the typo"
    assert request_part("Translate: hi") == "Translate: hi"  # too short to be the whole request


@pytest.mark.parametrize(
    "text",
    [
        "Done.<|im_end|>",
        "Sure.<|eot_id|>",
        "ok [/INST]",
        "<start_of_turn>model\nhi",
        "hi<|end|>\n<|user|>",
        "Paris.\n\nUser: and Spain?",
        "### Response:\nyes",
        "assistant\nSure thing.",
        "Fine.</s>",
        "Spoon.\nASSISTANT: June.",
        "<｜Assistant｜>ok",
    ],
)
def test_template_leaks_of_many_families(text):
    assert template_leak(text) is not None


def test_leak_look_alikes():
    assert template_leak("Use <s>old</s> for strikethrough.".replace("<s>old</s>", "`<s>old</s>`")) is None
    assert template_leak("<|im_end|> closes a ChatML turn.", "What does <|im_end|> mean?") is None
    dialogue = "User: my card was charged twice.\nAssistant: I'll refund it."
    assert template_leak(dialogue, "Write a support chat between a user and an assistant.") is None
    assert template_leak("Note: the user: field is required.") is None


@pytest.mark.parametrize(
    "response",
    [
        "Plants absorb light with chlorophyll. The energy is stored as glucose that the plant later uses to",
        "```python\ndef f(x):\n    return x",
        "Here are 5 tips:\n1. Sleep.\n2. Eat.\n3. Move.",
        "Here are the options:",
        "Compound interest grows quickly. In year two you earn 5% on $1,050, so the balance grows",
        "## Step 1\nMix.\n## Step 2",
        "It works well, and",
    ],
)
def test_cut_off_text(response):
    assert cut_off(response) is not None


@pytest.mark.parametrize(
    "response",
    [
        "Paris",
        "x = 4",
        "The capital of France is Paris",
        "Check the pressure as soon as you can",
        "- Tent\n- Stove\n- Headlamp",
        "Roses are red\nViolets are blue\nSugar is sweet\nAnd so are you",
        'She whispered, "I heard it too."',
        "```sql\nSELECT 1;\n```",
        "Best regards,\nJane Doe",
        "Enjoy! 😊",
        "| a | b |\n|---|---|\n| 1 | 2 |",
    ],
)
def test_endings_that_are_ends(response):
    assert cut_off(response) is None


def test_repeated_sentences_and_list_items():
    assert repeated_sentence("Mars is red. It is far. Mars is red and cold. " + "Mars is the fourth planet. " * 3)
    items = "\n".join(f"{i}. Take {'regular ' if i % 2 else ''}breaks." for i in range(1, 9))
    assert "distinct" in repeated_sentence(items)
    assert repeated_sentence("\n".join(f"{i}. Planet {i}" for i in range(8))) is None
    chorus = "We sing all night long. " * 3
    assert repeated_sentence(chorus, "Write a song with a chorus.") is None


@pytest.mark.parametrize(
    ("instruction", "why"),
    [
        ("I am a teacher with 30 students.", "first-person"),
        ("Thank you so much for your help!", "greeting"),
        ("Photosynthesis is how plants make food.", "statement"),
        ("Once upon a time, a fox lived in the woods.", "statement"),
    ],
)
def test_non_requests(instruction, why):
    found = not_a_request(instruction)
    assert found is not None and why in found


@pytest.mark.parametrize(
    "instruction",
    [
        "binary search in Rust",
        "Pros and cons of remote work.",
        "For a child, explain gravity.",
        "True or false: the Sun is a star.",
        "Thanks! Now write a haiku.",
        "A haiku about rain, please",
        "I'm planning a trip to Japan and want to see cherry blossoms.",
        "Python: reverse a linked list.",
        "Erkläre bitte, wie Photosynthese funktioniert.",  # not English: left to the language check
    ],
)
def test_requests_in_many_forms(instruction):
    assert not_a_request(instruction) is None


def test_labeled_sets_are_well_formed():
    kinds = {"refusal", "deflection", "echo", "leak", "truncated", "loop", "wrong_language", "non_request"}
    added = {"labeled": {"garbled", "placeholder"}, "holdout": set()}  # kinds added after the holdout was written
    for name in ("labeled", "holdout"):
        path = Path(__file__).resolve().parents[2] / "data" / "quality" / f"{name}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert {r["label"] for r in rows} == {"good", "junk"}
        assert {r["kind"] for r in rows if r["label"] == "junk"} == kinds | added[name]
        assert all(r["instruction"].strip() and r["response"].strip() for r in rows)
    assert len(rows) >= 60


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Paris is the capital \ufffd\ufffd of France.", "U+FFFD"),
        ("Here is the answer:\x00\x00 done.", "control character U+0000"),
        ("The caf\u00c3\u00a9 opens at nine and it\u00e2\u20ac\u2122s cheap.", "mojibake"),
        ("\u00e2\u20ac\u0153Quoted\u00e2\u20ac\x9d text", "control character U+009D"),  # cp1252 has no 0x9D
        ("Se\u00c3\u00b1or, la ni\u00c3\u00b1a est\u00c3\u00a1 aqu\u00c3\u00ad.", "mojibake"),
    ],
)
def test_garbled_text_is_named(text, says):
    assert says in garbled(text)


@pytest.mark.parametrize(
    "text",
    [
        "Na\u00efve caf\u00e9 owners in S\u00e3o Paulo say \u201cno\u201d \u2014 it\u2019s 20\u00b0C.",
        "Tabs\tand\nnewlines\r\nand form feeds\f are layout.",
        "S\u00c3O PAULO, \u00c2me, \u00e2ge: capitals and accents, not mojibake.",
        "One pair alone (20\u00c2\u00b0C) is not enough to tell.",
        "你好，世界。 Здравствуйте.",
    ],
)
def test_clean_text_in_any_script_is_not_garbled(text):
    assert garbled(text) is None


def test_a_marker_the_instruction_holds_is_not_garbled():
    asked = "Why does my file show \ufffd and Ã© instead of é?"
    assert garbled("The \ufffd means bytes were lost; Ã© and Ã¨ are UTF-8 read as Latin-1.", asked) is None


@pytest.mark.parametrize(
    ("instruction", "response"),
    [
        ("Write a Python function to reverse a string.", "Sure! Here is the code:\n\n[Insert code here]"),
        ("Explain recursion to a beginner.", "Recursion is <your explanation here>."),
        ("Write a short story about a dragon.", "Lorem ipsum dolor sit amet, consectetur adipiscing elit."),
        ("Implement quicksort in Python.", "def quicksort(xs):\n    # TODO: implement the sorting code\n    pass"),
        ("Summarize the French Revolution.", "{Add a relevant summary here}"),
    ],
)
def test_placeholders_instead_of_the_answer(instruction, response):
    assert "instead of the answer" in placeholder(response, instruction)


@pytest.mark.parametrize(
    ("instruction", "response"),
    [
        ("Write a cover letter for a data analyst job.", "Dear [Hiring Manager's Name],\n\nI am applying..."),
        ("Announce the launch date to the team.", "Hi all, we launch on [insert date]. Thanks!"),
        ("Give me an email template for a refund.", "Dear [Name], [insert order details here]. Regards"),
        ("What is lorem ipsum?", "Lorem ipsum is placeholder text used in design since the 1500s."),
        ("Write a function.", "def f(x):\n    return x  # (add more code if needed)"),
        ("Show a Java class skeleton.", "class A {\n    // your code here\n}"),
    ],
)
def test_names_dates_and_asked_for_templates_are_not_placeholders(instruction, response):
    assert placeholder(response, instruction) is None
